"""Agents send a caller home: ``POST /calls/<CallSid>/domestic``.

An agent abroad (or a supervisor) whose caller wants an agent in the home country asks
Onshore to move the live call there. The route is for the company's agent desktop, not
for Twilio: it takes a bearer token (``IVR_AGENT_TOKEN``; without one the route does not
exist) and is never Twilio-signed. Onshore finds the call's flow version and language in
its record, then updates the live call through Twilio's REST API
(https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource) to
Onshore's ``/voice/home`` URL; Twilio requests that URL, signed, on the caller's leg, and
the answer tells the caller they are being transferred and bridges to the flow's domestic
destination (the engine's transfer, with its unavailable path), recorded as
``transfer_requested by=agent``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, jsonify

from ivr import bind, bridges, twiml, wording
from ivr.operator_api import bearer_refusal
from ivr.store import Scope, View
from ivr.twilio_request import TwilioRequest
from ivr.vocabulary import Call, Facts, Speak, Turn

if TYPE_CHECKING:
    from ivr.webhooks import Decision, Onshore

log = logging.getLogger(__name__)
bp = Blueprint("agents", __name__)
HOME_PATH = "/voice/home"
HOME_STATE = "@home"
# What the caller hears first on the way home; {home_country} as in flow texts.
NOTICE = {
    "en": "Please hold while we transfer you to an agent in {home_country}.",
    "es": "Espere mientras lo transferimos a un agente en {home_country}.",
}


@bp.before_request
def require_token() -> Response | None:
    """Only a holder of the agents' token gets past this line."""
    return bearer_refusal(current_app.config["ONSHORE_AGENT_TOKEN"], "IVR_AGENT_TOKEN", "onshore-agents")


@bp.post("/calls/<call_sid>/domestic")
def domestic(call_sid: str) -> tuple[Response, int]:
    """Move a live call to the domestic line (202), or say why not."""
    from ivr import twilio_rest

    if not (bind.SID.match(call_sid) and call_sid.startswith("CA")):
        return jsonify(error="not a CallSid"), 404
    onshore: Onshore = current_app.extensions["onshore"]
    rest = current_app.extensions.get("onshore_rest")
    if rest is None:
        return jsonify(error="Twilio's REST API is not configured (TWILIO_ACCOUNT_SID)"), 503
    try:
        entries = onshore.store.call_entries(call_sid)
    except Exception as exc:  # noqa: BLE001 - Redis away: the desk may try again
        log.warning("call %s: record unreadable for a send-home request (%s)", call_sid, exc)
        return jsonify(error="the call's record cannot be read now"), 503
    queued = bind.queued(entry for _, entry in entries)
    if queued is None:
        return jsonify(error="no bridged call with this CallSid in the record"), 404
    base = onshore.settings.public_base_url.rstrip("/") or _host_url()
    query = {"f": queued.flow, "v": queued.version, "c": queued.center, "n": 100 + len(entries)}
    url = f"{base}{HOME_PATH}?{urlencode({**query, **({'l': queued.language} if queued.language else {})})}"
    try:
        rest.calls(call_sid).update(url=url, method="POST")
    except Exception as exc:  # noqa: BLE001 - told to the desk in one line, never a secret
        log.warning("call %s: not sent home: %s", call_sid, twilio_rest.reason(exc))
        return jsonify(error=twilio_rest.reason(exc)), 502
    log.info("call %s: an agent sends it home", call_sid)
    return jsonify(call=call_sid, to="domestic"), 202


def _host_url() -> str:
    from flask import request

    return request.host_url.rstrip("/")


def home(app: Onshore, request: TwilioRequest) -> str:
    """Twilio requests this on the caller's leg after the REST update: the notice, then the
    domestic bridge."""
    from ivr import webhooks

    form, args = request.form, request.args
    sid, now = form.get("CallSid", ""), app.clock()
    flow_id, version = args.get("f", ""), args.get("v", "")
    seq = args.get("n", "0")

    def decide(view: View, fresh: bool) -> Decision:
        flow = webhooks._flow(app, flow_id, int(version), fresh) if version.isdigit() else None
        if flow is None:
            return webhooks._lost(app, sid, now, flow_id, "flow version unknown")
        lang = flow.speaking(args.get("l", ""))
        language = lang.code if lang.code != flow.codes[0] else ""
        call = Call(flow.id, flow.version, HOME_STATE, center=args.get("c", ""), language=language)
        call = call._replace(seq=int(seq) if seq.isdigit() else 0)
        facts = Facts(sid, now, view.centers, app.settings.home_country, None, fresh)
        turn = Turn(call)
        turn.note("transfer_requested", how="agent", by="agent", center=call.center)
        turn.actions.append(
            Speak(
                wording.fill(NOTICE.get(lang.code, NOTICE["en"]), flow, facts, None, lang.code),
                lang.tag,
                lang.voice,
            )
        )
        turn = bridges.transfer(flow, turn, facts, "")
        return twiml.render(tuple(turn.actions)), turn.events

    scope = Scope(flow=flow_id, version=int(version)) if version.isdigit() else Scope()
    return webhooks._answer(app, sid, scope, form.get("From", ""), now, decide)


def init_app(app: Flask, token: str, rest: Any) -> None:
    """Register the agents' route behind its token, with Twilio's REST client (or None)."""
    app.config["ONSHORE_AGENT_TOKEN"] = token
    app.extensions["onshore_rest"] = rest
    app.register_blueprint(bp)
