"""Routes for operators, not for Twilio: the compliance report over HTTP.

Protected by a bearer token (IVR_REPORT_TOKEN; without one the routes do not exist). A
month of evidence takes seconds to read: serve these from an operator instance with a
longer worker timeout than the webhooks' (deploy/README.md).
"""

from __future__ import annotations

import hmac
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request

from ivr import audit, period, report
from ivr.errors import PeriodError
from ivr.store import Store, connect

bp = Blueprint("operators", __name__)
READ_TIMEOUT = 10.0


def bearer_refusal(token: str, variable: str, realm: str) -> Response | None:
    """The answer to a request without this bearer token (404 while the token is unset,
    so the route does not exist), or None for one that holds it."""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token:
        abort(404)
    if not hmac.compare_digest(given.encode(), token.encode()):
        # RFC 6750 section 3: a 401 names the scheme the client must use
        return Response(
            f"a bearer token is required ({variable})\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )
    return None


@bp.before_request
def require_token() -> Response | None:
    """Only a caller holding the operator token gets past this line."""
    return bearer_refusal(current_app.config["ONSHORE_REPORT_TOKEN"], "IVR_REPORT_TOKEN", "onshore-reports")


@bp.get("/reports")
def reports() -> Response:
    """GET /reports?from=2026-11-01&to=2026-11-30[&flow=support][&format=html]"""
    try:
        start, end = period.parse(request.args.get("from"), request.args.get("to"))
    except PeriodError as exc:  # not a Twilio webhook: a plain 400 is the right answer
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    fmt = request.args.get("format", "html")
    if fmt not in report.FORMATS:
        return Response(
            f"format must be one of {', '.join(report.FORMATS)}\n", status=400, mimetype="text/plain"
        )
    settings = current_app.extensions["onshore"].settings
    store = Store(connect(settings.redis_url, timeout=READ_TIMEOUT))
    try:
        folder = Path(settings.archive_dir) if settings.archive_dir else None
        built = report.build_report(
            report.stored_events(audit.period(store, start, end, folder, stored=True)),
            start,
            end,
            request.args.get("flow") or None,
            settings.home_country,
        )
    except ValueError as exc:
        return Response(f"{exc}\n", status=400, mimetype="text/plain")
    return Response(report.render(built, fmt), content_type=report.CONTENT_TYPES[fmt])


def init_app(app: Flask, token: str) -> None:
    """Register the operator routes behind the token."""
    app.config["ONSHORE_REPORT_TOKEN"] = token
    app.register_blueprint(bp)
