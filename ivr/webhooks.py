"""Twilio's webhooks: the edge where HTTP becomes engine calls and turns become TwiML.

Order for every request: signature (403 before anything is read or written), facts from
the store (one round trip), the engine (pure), evidence (one round trip), TwiML. Any
failure after the signature still answers 200 with valid TwiML that keeps the caller safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, abort, current_app, request
from twilio.request_validator import get_signature_algorithm

from ivr import engine, evidence, twiml
from ivr.engine import BridgeEnded, Call, Facts, Heard, Reply, Silence, Turn
from ivr.errors import StoreUnavailable
from ivr.flow import Flow
from ivr.settings import Settings
from ivr.signature import SignatureChecker
from ivr.store import Snapshot, Store

log = logging.getLogger(__name__)
bp = Blueprint("voice", __name__)

GENERIC_APOLOGY = "We are sorry, we cannot take your call right now. Please call again later."


@dataclass
class Onshore:
    """What the webhooks need, built once by create_app."""

    settings: Settings
    store: Store
    signatures: SignatureChecker
    hash_key: bytes
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def onshore() -> Onshore:
    return current_app.extensions["onshore"]  # type: ignore[no-any-return]


def xml(document: str) -> Response:
    return Response(document, status=200, mimetype="text/xml")


@bp.before_request
def check_signature() -> None:
    """Only requests signed by Twilio with one of our tokens get past this line."""
    app = onshore()
    # request.url decodes %7C and friends; Twilio signed the URL exactly as it requested it.
    path = request.full_path if request.query_string else request.path
    url = app.signatures.signed_url(request.host_url.rstrip("/") + path, path)
    algorithm = get_signature_algorithm(
        request.headers.get("X-Twilio-Webhooks-Signature-Settings", ""))
    if not app.signatures.is_valid(url, request.form, request.headers.get("X-Twilio-Signature"),
                                   algorithm):
        log.warning("refused a request with a bad signature for %s", request.path)
        abort(403)


@bp.post("/voice")
def voice() -> Response:
    """A call comes in: choose the flow by the number called and start it."""
    app = onshore()
    form = request.form
    sid, to = form.get("CallSid", ""), form.get("To", "")
    now = app.clock()
    snap = app.store.lookup(to)
    facts = Facts(sid, now, snap.centers, app.settings.home_country,
                  snap.number.exempt if snap.number else None, snap.fresh)
    received = {"number": to, "caller_country": evidence.caller_country(form.get("FromCountry", "")),
                "direction": form.get("Direction", ""), "fresh": str(snap.fresh).lower()}
    if snap.flow is None:
        turn = None
        received.update(flow="", version="", exempt="")
    else:
        received.update(flow=snap.flow.id, version=str(snap.flow.version),
                        exempt=facts.exempt or "")
        turn = _run(lambda: engine.begin(snap.flow, facts), snap.flow,  # type: ignore[arg-type]
                    engine.Call(snap.flow.id, snap.flow.version, snap.flow.start,
                                exempt=facts.exempt or ""), facts)
    events = [engine.Event("received", "received", tuple(received.items()))]
    if turn is None:
        reason = "unknown number" if snap.fresh else "no configuration in memory"
        events.append(engine.Event("safe_answer:start", "safe_answer", (("reason", reason),)))
    _record(app, sid, form.get("From", ""), now, events + (turn.events if turn else []), snap)
    return xml(twiml.render(tuple(turn.actions)) if turn else twiml.apology(GENERIC_APOLOGY))


@bp.post("/voice/step")
def step() -> Response:
    """The caller or a bridge answered the state the call waits in."""
    app = onshore()
    form = request.form
    sid = form.get("CallSid", "")
    now = app.clock()
    try:
        call = Call.from_query(request.args)
    except (KeyError, ValueError):
        return _lost(app, sid, now, request.args.get("f", ""), "malformed step URL")
    snap = app.store.lookup_step(call.flow, call.version)
    if snap.flow is None:
        return _lost(app, sid, now, call.flow, "flow version unknown")
    facts = Facts(sid, now, snap.centers, app.settings.home_country,
                  call.exempt or None, snap.fresh)  # type: ignore[arg-type]
    flow = snap.flow
    turn = _run(lambda: engine.resume(flow, call, _reply(form), facts), flow, call, facts)
    _record(app, sid, form.get("From", ""), now, turn.events, snap)
    return xml(twiml.render(tuple(turn.actions)))


@bp.post("/voice/wait")
def wait() -> Response:
    """Hold: the transfer offer and music; the transfer key leaves the queue."""
    app = onshore()
    flow_id, version = request.args.get("f", ""), request.args.get("v", "0")
    if request.form.get("Digits", "").startswith("1"):
        return xml(twiml.leave())
    try:
        flow = app.store.remembered_flow(flow_id, int(version)) or app.store.flow(flow_id, int(version))
    except Exception:  # noqa: BLE001 - hold must go on whatever Redis does
        flow = app.store.remembered_flow(flow_id, None)
    if flow is None:
        return xml(twiml.hold("To speak with an agent in the United States, press 1.", "en-US",
                              "", "", request.full_path))
    facts = Facts("", app.clock(), {}, app.settings.home_country)
    offer = engine.fill(flow.hold_offer, flow, facts, None)
    return xml(twiml.hold(offer, flow.language, flow.voice, flow.hold_music, request.full_path))


@bp.post("/voice/status")
def status() -> Response:
    """Twilio's status callback: the call's final state is evidence too."""
    app = onshore()
    form = request.form
    sid, call_status = form.get("CallSid", ""), form.get("CallStatus", "")
    event = engine.Event(f"status:{call_status}", "status", (
        ("status", call_status), ("duration", form.get("CallDuration", "")),
        ("sequence", form.get("SequenceNumber", ""))))
    _record(app, sid, form.get("From", ""), app.clock(), [event], None)
    return xml(twiml.empty())


def _reply(form: Mapping[str, str]) -> Reply:
    get = form.get
    outcome = get("DialCallStatus") or get("QueueResult")
    if outcome:
        return BridgeEnded(outcome)
    if get("Digits") or get("SpeechResult"):
        return Heard(get("Digits", ""), get("SpeechResult", ""))
    return Silence()


def _run(decide: Callable[[], Turn], flow: Flow, call: Call, facts: Facts) -> Turn:
    """The engine's turn, or the flow's safe answer when anything goes wrong."""
    try:
        return decide()
    except Exception as exc:
        log.exception("flow %s v%s failed at %s; giving the safe answer", flow.id, flow.version,
                      call.state)
        return engine.safe_answer(flow, call, facts, reason=f"{type(exc).__name__}: {exc}"[:200])


def _lost(app: Onshore, sid: str, now: datetime, flow_id: str, reason: str) -> Response:
    """A step we cannot place: the newest known version of its flow decides the safe answer."""
    flow = app.store.remembered_flow(flow_id, None)
    event = engine.Event("safe_answer:lost", "safe_answer", (("reason", reason),))
    if flow is None:
        _record(app, sid, request.form.get("From", ""), now, [event], None)
        return xml(twiml.apology(GENERIC_APOLOGY))
    facts = Facts(sid, now, app.store.memory.centers, app.settings.home_country, None, False)
    turn = engine.safe_answer(flow, Call(flow.id, flow.version, flow.start), facts, reason)
    _record(app, sid, request.form.get("From", ""), now, turn.events, None)
    return xml(twiml.render(tuple(turn.actions)))


def _record(app: Onshore, sid: str, caller: str, now: datetime, events: list[engine.Event],
            snap: Snapshot | None) -> None:
    """Append the events; a Redis fault costs the evidence, never the caller's answer."""
    if not sid or not events:
        return
    if snap is not None and not snap.fresh:
        log.error("redis unavailable: %d event(s) of call %s not recorded", len(events), sid)
        return
    common = evidence.common_fields(sid, evidence.caller_hash(caller, app.hash_key), now)
    try:
        app.store.record(sid, [(e, common) for e in events])
    except StoreUnavailable as exc:
        log.error("redis unavailable: %d event(s) of call %s not recorded: %s", len(events), sid, exc)


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return Response("ok\n", mimetype="text/plain")


@health.get("/readyz")
def readyz() -> Response:
    """Redis answers; a load balancer may send calls here."""
    if onshore().store.ping():
        return Response("ready\n", mimetype="text/plain")
    return Response("redis unavailable\n", status=503, mimetype="text/plain")


def init_app(app: Flask) -> None:
    """Register the webhooks and the last-resort error answer."""
    app.register_blueprint(bp)
    app.register_blueprint(health)

    @app.errorhandler(Exception)
    def last_resort(exc: Exception) -> Response:  # pragma: no cover - exercised by fault tests
        if hasattr(exc, "code") and getattr(exc, "code", 500) < 500:
            return exc  # type: ignore[return-value]
        log.exception("unhandled error on %s", request.path)
        if request.path.startswith("/voice"):
            return xml(twiml.apology(GENERIC_APOLOGY))
        return Response("internal error\n", status=500, mimetype="text/plain")
