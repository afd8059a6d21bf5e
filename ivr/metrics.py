"""What operators watch: Prometheus metrics of calls, Redis, the spool and the webhooks, and
``GET /metrics`` to scrape them.

The call counters come from one place: the evidence events of the answer a caller was
given (``count``, called by the webhook edge once the events are recorded or spooled), so
the metrics say what the record says and the engine stays pure. Label values are bounded:
route paths, channels, reasons from fixed tables, center ids from the published
configuration; never a CallSid, a number or anything the caller chose.

gunicorn runs several worker processes, and a scrape reaches one of them. prometheus_client's
multiprocess mode (https://prometheus.github.io/client_python/multiprocess/) has each process
write its values to mmap'd files in ``PROMETHEUS_MULTIPROC_DIR``; the worker that serves the
scrape sums every process's files. ``deploy/gunicorn.conf.py`` makes that folder fresh for each
server start before anything imports prometheus_client (which reads the variable on import),
and removes the files of a dead worker's live gauges (``child_exit``). Without the variable
(tests in one process, ``ivr call``) the values live in this process's memory.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from ivr.breaker import State
from ivr.spool import Spool
from ivr.vocabulary import INTERNAL_ERROR, Event

disable_created_metrics()  # the _created series double the output and say nothing here
REGISTRY = CollectorRegistry()  # this process's metrics; a scrape in multiprocess mode reads files
MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

CALLS = Counter("onshore_calls_received", "Calls answered on /voice (received events).", registry=REGISTRY)
DISCLOSURES = Counter(
    "onshore_disclosures",
    "Disclosures played, by kind (named: the center's place; cautious: the flow's cautious text).",
    ["kind"],
    registry=REGISTRY,
)
EXEMPT = Counter(
    "onshore_disclosure_exemptions",
    "Disclosures not due, by reason (emergency, "
    "foreign-business: the number; domestic-center: the center is at home).",
    ["reason"],
    registry=REGISTRY,
)
OFFERS = Counter("onshore_offers", "Transfer offers made.", registry=REGISTRY)
TRANSFERS = Counter(
    "onshore_transfer_requests",
    "Transfers to a domestic agent the caller asked for, by channel.",
    ["channel"],
    registry=REGISTRY,
)
BRIDGES = Counter(
    "onshore_bridges",
    "Bridges to a center, by center and whether it is in the home country.",
    ["center", "location"],
    registry=REGISTRY,
)
ABANDONED = Counter(
    "onshore_abandoned_calls", "Callers who hung up before an agent answered a bridge.", registry=REGISTRY
)
WAIT_LIMITS = Counter(
    "onshore_wait_limits",
    "Callers taken out of a center's queue at its max_wait, by center.",
    ["center"],
    registry=REGISTRY,
)
CONFIRMATIONS = Counter(
    "onshore_agent_confirmations",
    "Answers of the agent side of a confirm "
    "bridge to its whisper, by center and outcome (accepted, declined).",
    ["center", "outcome"],
    registry=REGISTRY,
)
SAFE_ANSWERS = Counter(
    "onshore_safe_answers",
    "Safe answers given instead of the flow's own path, by reason.",
    ["reason"],
    registry=REGISTRY,
)
CALLBACKS = Counter(
    "onshore_callbacks",
    "Callback steps seen by the webhooks, by step (requested, placed, answered, bridged, failed, "
    "cancelled, kept).",
    ["step"],
    registry=REGISTRY,
)
VOICEMAILS = Counter(
    "onshore_voicemails",
    "Voicemail steps, by step (offered, left, empty; after the call: recording_completed, "
    "recording_absent, transcript_completed, transcript_failed).",
    ["step"],
    registry=REGISTRY,
)
REDIS_ERRORS = Counter(
    "onshore_redis_errors",
    "Webhooks answered from memory because Redis "
    "failed (error), may have run the write without replying (unconfirmed), "
    "or was skipped by an open breaker (breaker_open).",
    ["kind"],
    registry=REGISTRY,
)
BREAKER = Gauge(
    "onshore_redis_breaker_workers",
    "Worker processes whose Redis circuit breaker is in each state.",
    ["state"],
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
REFUSED = Counter(
    "onshore_refused_requests",
    "Webhook requests refused without TwiML, by route and reason.",
    ["route", "reason"],
    registry=REGISTRY,
)
# Every answer is built well inside a second; the top buckets show a worker in trouble.
LATENCY = Histogram(
    "onshore_webhook_duration_seconds",
    "Time to answer a webhook, by route.",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
COMMIT = Histogram(
    "onshore_evidence_commit_duration_seconds",
    "Round trips that record a webhook's evidence in Redis, failed ones included.",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

CHANNELS = ("key", "voice", "hold", "agent", "automated")
EXEMPTIONS = ("emergency", "foreign-business", "domestic-center")
OTHER_ROUTE = "other"
# The evidence steps each counter counts, and the label each gets (a fixed set: no caller data).
CALLBACK_STEPS = {
    f"callback_{name}": name
    for name in ("requested", "placed", "answered", "bridged", "failed", "cancelled", "kept")
}
VOICEMAIL_STEPS = {"voicemail_offered": "offered", "voicemail_left": "left", "voicemail_empty": "empty"}
TRANSCRIPT_STATUSES = ("completed", "failed")
RECORDING_STATUSES = ("completed", "absent", "failed")
AFTER_CALL = {
    "voicemail_transcript": ("transcript", TRANSCRIPT_STATUSES),
    "voicemail_recording": ("recording", RECORDING_STATUSES),
}
# The engine's and the webhooks' safe-answer reasons (an engine failure's reason is its
# exception, text the label must not carry).
SAFE_REASONS = {
    "unknown number": "unknown_number",
    "no configuration in memory": "no_configuration",
    "malformed step URL": "malformed_step_url",
    "flow version unknown": "unknown_version",
    "center lookup unavailable": "lookup_unavailable",
}
# Why a webhook request got no TwiML, from the status it got; "parameters" is set by the edge.
REFUSALS = {
    403: "forged",
    404: "not_found",
    405: "method",
    408: "slow",
    411: "no_length",
    413: "oversize",
    415: "not_form",
    400: "malformed",
}


def count(events: Iterable[Event]) -> None:
    """Count a webhook's answer by its evidence events."""
    for event in events:
        step, fields = event.step, event.fields
        if step == "received":
            CALLS.inc()
        elif step == "disclosed":
            DISCLOSURES.labels("cautious" if ("cautious", "true") in fields else "named").inc()
        elif step == "exempt":
            reason = dict(fields).get("reason", "")
            EXEMPT.labels(reason if reason in EXEMPTIONS else "other").inc()
        elif step == "offered":
            OFFERS.inc()
        elif step == "transfer_requested":
            by = dict(fields).get("by", "")
            TRANSFERS.labels(by if by in CHANNELS else "other").inc()
        elif step == "bridged":
            named = dict(fields)
            BRIDGES.labels(
                named.get("center", ""), "domestic" if named.get("domestic") == "true" else "offshore"
            ).inc()
        elif step == "bridge_ended" and ("outcome", "gone") in fields:
            ABANDONED.inc()
        elif step == "wait_limit":
            WAIT_LIMITS.labels(dict(fields).get("center", "")).inc()
        elif step == "confirm":
            named = dict(fields)
            CONFIRMATIONS.labels(
                named.get("center", ""), "accepted" if named.get("outcome") == "accepted" else "declined"
            ).inc()
        elif step == "safe_answer":
            SAFE_ANSWERS.labels(safe_reason(dict(fields).get("reason", ""))).inc()
        elif step in CALLBACK_STEPS:
            CALLBACKS.labels(CALLBACK_STEPS[step]).inc()
        elif step in VOICEMAIL_STEPS:
            VOICEMAILS.labels(VOICEMAIL_STEPS[step]).inc()
        elif step in AFTER_CALL:
            kind, known = AFTER_CALL[step]
            status = dict(fields).get("status", "")
            VOICEMAILS.labels(f"{kind}_{status if status in known else 'other'}").inc()


def safe_reason(reason: str) -> str:
    """A safe answer's reason as a label value from a fixed set."""
    if reason in SAFE_REASONS:
        return SAFE_REASONS[reason]
    return "engine_error" if reason.startswith(INTERNAL_ERROR) else "other"


def route(path: str, routes: Iterable[str]) -> str:
    """The route label: a webhook path Onshore serves, or "other" (paths are the client's)."""
    return path if path in routes else OTHER_ROUTE


def refused(path: str, status: int, reason: str = "") -> None:
    """A webhook request refused with this status."""
    REFUSED.labels(path, reason or REFUSALS.get(status, "other")).inc()


def breaker_moved(was: State, now: State) -> None:
    """This process's breaker changed state."""
    BREAKER.labels(was.value).dec()
    BREAKER.labels(now.value).inc()


def started(routes: Iterable[str]) -> None:
    """A process that serves webhooks starts: its breaker is closed, and every bounded series
    exists at zero (a dashboard's rate() needs the series before the first event)."""
    for state in State:
        BREAKER.labels(state.value).set(1 if state is State.CLOSED else 0)
    for channel in CHANNELS:
        TRANSFERS.labels(channel)
    for kind in ("named", "cautious"):
        DISCLOSURES.labels(kind)
    for reason in EXEMPTIONS:
        EXEMPT.labels(reason)
    for kind in ("error", "unconfirmed", "breaker_open"):
        REDIS_ERRORS.labels(kind)
    for reason in (*SAFE_REASONS.values(), "engine_error", "other"):
        SAFE_ANSWERS.labels(reason)
    for name in CALLBACK_STEPS.values():
        CALLBACKS.labels(name)
    for name in VOICEMAIL_STEPS.values():
        VOICEMAILS.labels(name)
    for kind, known in AFTER_CALL.values():
        for status in (*known, "other"):
            VOICEMAILS.labels(f"{kind}_{status}")
    for path in routes:
        LATENCY.labels(path)


class SpoolCollector(Collector):
    """The spool's depth and age, read from the folder at scrape time: one folder per host,
    shared by its workers, so whichever worker is scraped sees all of it. Depth is in bytes
    (each file's size): counting lines would read the whole spool at every scrape, and an
    hour's outage spools hundreds of megabytes; the age reads each file's first line."""

    def __init__(self, spool: Spool, clock: Callable[[], float] = time.time) -> None:
        self.spool, self.clock = spool, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The two gauges."""
        size, files, oldest = 0, 0, None
        for path in self.spool.pending():
            try:
                with open(path, "rb") as f:
                    size += os.fstat(f.fileno()).st_size
                    at = _event_time(f.readline())
            except FileNotFoundError:  # replayed meanwhile
                continue
            files += 1
            if at is not None and (oldest is None or at < oldest):
                oldest = at
        yield GaugeMetricFamily(
            "onshore_spool_bytes",
            "Evidence waiting in the local spool for Redis (bytes of its files).",
            value=size,
        )
        yield GaugeMetricFamily(
            "onshore_spool_files",
            "Spool files waiting for replay (one per worker that spooled).",
            value=files,
        )
        yield GaugeMetricFamily(
            "onshore_spool_oldest_event_age_seconds",
            "Age of the oldest event waiting in the spool (0 when it is empty).",
            value=max(0.0, self.clock() - oldest) if oldest else 0.0,
        )


def _event_time(line: bytes) -> float | None:
    """When a spooled event happened: its sealed body's "at" field (unix seconds)."""
    try:
        body = json.loads(json.loads(line)["body"])
        return datetime.fromisoformat(dict(zip(body[::2], body[1::2], strict=False))["at"]).timestamp()
    except (ValueError, KeyError, TypeError):
        return None


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    """Every process's metrics in Prometheus's text format, for the holder of the token."""
    token = current_app.config["ONSHORE_METRICS_TOKEN"]
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        # RFC 6750 section 3: a 401 for a missing or wrong bearer token names the scheme.
        return Response(
            "a bearer token is required (IVR_METRICS_TOKEN)\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="onshore-metrics"'},
        )
    registry = CollectorRegistry()
    if MULTIPROCESS:
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Local())
    registry.register(SpoolCollector(current_app.extensions["onshore"].spool))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _Local(Collector):
    """This process's own metrics, when there is no multiprocess folder."""

    def collect(self) -> Iterator[Metric]:
        """REGISTRY's metrics."""
        return iter(REGISTRY.collect())


def init_app(app: Flask, token: str, routes: Iterable[str]) -> None:
    """GET /metrics behind the token; without a token the route does not exist."""
    started(routes)
    if token:
        app.config["ONSHORE_METRICS_TOKEN"] = token
        app.register_blueprint(bp)
