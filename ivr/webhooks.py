"""Twilio's webhooks: the edge where HTTP becomes engine calls and turns become TwiML.

Order for every request: what can be refused unread (``ivr.twilio_request``: no signature
header, not a form, too large), the body read within a deadline, the signature and the
parameter names (``ivr.parameters``; 403 before anything is written), the engine (pure) on
the configuration this process last read, then one round trip that records the
evidence if that configuration is still current (see ``ivr.store``), then TwiML. Any
failure after the signature still answers 200 with valid TwiML that keeps the caller safe.

The webhooks are a WSGI app of their own on werkzeug, Flask's own request and response
layer, mounted in front of the Flask app (``init_app``): the app and request contexts, URL
map and hooks Flask runs around every request cost about 100 µs of a webhook's CPU, and
Twilio's four URLs need none of them. Health checks and reports stay Flask routes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app
from werkzeug.exceptions import Forbidden, HTTPException, MethodNotAllowed, NotFound

from ivr import (
    agent_api,
    bind_routes,
    callback_routes,
    caller_ids,
    engine,
    evidence,
    hold,
    logs,
    metrics,
    parameters,
    rulesets,
    twilio_request,
    twiml,
    whisper,
)
from ivr.chores import Chores
from ivr.errors import CircuitOpen, StoreUnavailable, Unconfirmed
from ivr.estimate import remaining
from ivr.evidence import Keyring
from ivr.first_turns import FirstTurns
from ivr.flow import TWILIO_HOLD_MUSIC, Flow
from ivr.places import country_name
from ivr.settings import Settings
from ivr.signature import SignatureChecker
from ivr.spool import Spool, Spooled
from ivr.store import EMPTY, Scope, Stale, Store, View
from ivr.taskrouter_api import TaskRouterApi
from ivr.twilio_request import TwilioRequest
from ivr.vocabulary import (
    UNKNOWN,
    WAIT_LIMIT,
    BridgeEnded,
    Call,
    CancelCallback,
    Event,
    Facts,
    Heard,
    Play,
    Recorded,
    RelayEnded,
    Reply,
    RequestCallback,
    Silence,
    Speak,
    Turn,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

GENERIC_APOLOGY = "We are sorry, we cannot take your call right now. Please call again later."


@dataclass
class Onshore:
    """What the webhooks need, built once by create_app."""

    settings: Settings
    store: Store
    signatures: SignatureChecker
    keyring: Keyring
    spool: Spool
    chores: Chores  # on a timer of each worker's own (deploy/gunicorn.conf.py starts it)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    first_turns: FirstTurns = field(default_factory=FirstTurns)
    taskrouter: TaskRouterApi | None = None  # TaskRouter's REST API (ivr.bind_routes)


def signed_by_twilio(app: Onshore, request: TwilioRequest) -> bool:
    """Only requests signed by Twilio with one of our tokens get past this check."""
    environ = request.environ
    target = request.target
    url = app.signatures.signed_url(request.origin + target, target)
    return app.signatures.is_valid(
        url,
        request.pairs,
        environ.get("HTTP_X_TWILIO_SIGNATURE"),
        environ.get("HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"),
    )


Decision = tuple[str, list[Event]]  # the TwiML document and the events behind it


def voice(app: Onshore, request: TwilioRequest) -> str:
    """A call comes in: choose the flow by the number called and start it."""
    form = request.form
    sid, to = form.get("CallSid", ""), form.get("To", "")
    now = app.clock()

    read: dict[tuple[str, int], dict[str, Any]] = {}  # _domestic_facts, once per webhook

    def decide(view: View, fresh: bool) -> Decision:
        number = view.number
        flow = _flow(app, number.flow, view.versions.get(number.flow), fresh) if number else None
        if flow is not None:
            logs.at(flow.id, flow.version, flow.start)
        facts = Facts(
            sid,
            now,
            view.centers,
            app.settings.home_country,
            number.exempt if number else None,
            fresh,
            number.language if number else "",
            number.home_only if number else False,
        )
        if flow is not None and (flow.offers_choice or flow.announce_domestic_wait):
            facts = replace(
                facts,
                caller=form.get("From", ""),
                **_domestic_facts(app, flow, _hashed(app, form), True, read),
            )
        received = evidence.received(
            to,
            form.get("FromCountry", ""),
            form.get("FromState", ""),
            form.get("Direction", ""),
            fresh,
            flow,
            facts.exempt or "",
            rulesets.labels(rulesets.in_force(number.rules, ())) if number else "",
            facts.home_only,
        )
        if flow is None:
            reason = "unknown number" if fresh else "no configuration in memory"
            log.warning(
                "call %s to %s got the apology: %s (is it in a published flows/ folder? ivr load)",
                sid,
                to,
                reason,
            )
            return twiml.apology(GENERIC_APOLOGY), [
                received,
                Event("safe_answer:start", "safe_answer", (("reason", reason),)),
            ]
        turn = _run(
            lambda: app.first_turns.begin(flow, facts, view.digest),
            flow,
            engine.first_call(flow, facts),
            facts,
        )
        turn = caller_ids.substitute(turn, form.get("From", ""), to, _hashed(app, form))
        return twiml.render(tuple(turn.actions)), [received, *turn.events]

    return _answer(app, sid, Scope(number=to), form.get("From", ""), now, decide)


def step(app: Onshore, request: TwilioRequest) -> str:
    """The caller or a bridge answered the state the call waits in."""
    form = request.form
    sid = form.get("CallSid", "")
    now = app.clock()
    try:
        call = Call.from_query(request.args)
    except (KeyError, ValueError):
        call = None

    read: dict[tuple[str, int], dict[str, Any]] = {}  # _domestic_facts, once per webhook

    def decide(view: View, fresh: bool) -> Decision:
        flow = _flow(app, call.flow, call.version, fresh) if call else None
        if call is None or flow is None:
            return _lost(
                app,
                sid,
                now,
                request.args.get("f", ""),
                "malformed step URL" if call is None else "flow version unknown",
                reply,
            )
        logs.at(call.flow, call.version, call.state)
        facts = Facts(sid, now, view.centers, app.settings.home_country, call.exempt or None, fresh)  # type: ignore[arg-type]
        if flow.offers_choice or flow.announce_domestic_wait:
            facts = replace(facts, caller=form.get("From", ""), **_domestic_facts(app, flow, "", False, read))
        turn = _run(lambda: engine.resume(flow, call, reply, facts), flow, call, facts)
        if any(isinstance(a, (RequestCallback, CancelCallback)) for a in turn.actions):
            turn = _carry_out(
                app,
                turn,
                form,
                lambda down: _run(lambda: engine.resume(flow, call, reply, down), flow, call, down),
                facts,
            )
        turn = caller_ids.substitute(turn, form.get("From", ""), form.get("To", ""), _hashed(app, form))
        return twiml.render(tuple(turn.actions)), turn.events

    reply = _reply(form)
    if call is not None and isinstance(reply, BridgeEnded) and call.center:
        reply = _queue_left(app, sid, call, reply, now)
        if call.domestic:  # out of the domestic line, whatever the end (a no-op when not in it)
            try:
                _callbacks(app, lambda store: store.leave(call.center, sid))
            except Exception:  # noqa: BLE001 - its lease lapses on its own
                log.warning("call %s: could not leave %s's line", sid, call.center)
    scope = Scope(flow=call.flow, version=call.version) if call else Scope()
    return _answer(app, sid, scope, form.get("From", ""), now, decide)


def _queue_left(app: Onshore, sid: str, call: Call, reply: BridgeEnded, now: datetime) -> BridgeEnded:
    """What the <Enqueue> action's QueueResult needs from the record: why a caller left
    (the wait handler's wait_limit event, or the transfer key); and a bridged caller's
    wait, kept for the queue's estimate."""
    try:
        if reply.status == "leave":
            recorded = hold.wait_limit(str(call.seq), call.state, "", hold.Queued(), 0)
            limit = app.store.has_step(sid, recorded.key)
            return replace(reply, left=WAIT_LIMIT if limit else "key")
        if reply.status == "bridged" and reply.wait:
            app.store.record_wait(call.center, sid, int(reply.wait), now.timestamp())
    except StoreUnavailable:
        return replace(reply, left=UNKNOWN) if reply.status == "leave" else reply
    return reply


def wait(app: Onshore, request: TwilioRequest) -> str:
    """Hold (Twilio requests the waitUrl again each time a document ends): the place in line,
    the transfer offer and music, in the call's language; the transfer key leaves the queue,
    and so does a wait past the queue's max_wait, recorded first (the <Enqueue> action then
    sees QueueResult=leave and tells the two apart by that record)."""
    args, form = request.args, request.form
    flow_id, sid, now = args.get("f", ""), form.get("CallSid", ""), app.clock()
    queued = hold.Queued(_seconds(form.get("QueueTime")), _seconds(form.get("QueuePosition")))
    max_wait, center = _seconds(args.get("w")), args.get("c", "")
    if hold.past_limit(queued, max_wait):  # the URL says so: no flow, no Redis needed
        event = hold.wait_limit(args.get("n", "0"), args.get("s", ""), center, queued, max_wait)
        return record(app, sid, form.get("From", ""), twiml.leave(), [event], now=now)
    try:
        flow = _flow(app, flow_id, int(args.get("v", "0")), True)
    except (ValueError, StoreUnavailable):  # hold goes on whatever Redis does
        flow = app.store.remembered_flow(flow_id, None)
    if flow is not None:
        logs.at(flow.id, flow.version, "hold")
    if form.get("Digits", "").startswith(flow.transfer_key if flow else "1"):
        return twiml.leave()
    if flow is None:
        return keep_holding(request.full_path, app.settings.home_country)
    if flow.callback is not None and center in (flow.domestic, *flow.domestic_by_language.values()):
        _in_line(app, flow, center, sid, now.timestamp() - queued.time)
    expected = _expected(app, center, queued) if hold.announcing(flow, queued) else None
    document = hold.hold(
        flow, Facts(sid, now, {}, app.settings.home_country), queued, max_wait, args.get("l", ""), expected
    )
    return twiml.hold(document.lines, request.full_path)


def _in_line(app: Onshore, flow: Flow, center: str, sid: str, asked: float) -> None:
    """A caller on hold for a domestic destination that takes callbacks holds a place in its
    line (``ivr.callback_store``) while the hold requests keep coming: a lease of three
    hold segments, renewed by each; so no callback requested later is placed before them."""
    try:
        _callbacks(app, lambda store: store.join(center, sid, asked, lease=3.0 * flow.offer_every))
    except Exception:  # noqa: BLE001 - hold goes on whatever Redis does
        log.warning("call %s: its place in %s's line could not be kept", sid, center)


def keep_holding(pressed_url: str, home: str) -> str:
    """A waiting caller's document when nothing else can be said (no flow to speak from):
    Twilio's music and the offer with the default key, still listening for it. Never a
    hang-up: the caller keeps their place."""
    offer = Speak(f"To speak with an agent in {country_name(home, 'en-US')}, press 1 at any time.", "en-US")
    return twiml.hold((offer, Play(TWILIO_HOLD_MUSIC[0])), pressed_url)


def _asked(environ: Mapping[str, object]) -> str:
    """The path and query string of a request not (or not yet) read."""
    query = str(environ.get("QUERY_STRING", ""))
    return str(environ.get("PATH_INFO", "")) + (f"?{query}" if query else "")


def _expected(app: Onshore, center: str, queued: hold.Queued) -> float | None:
    """The wait still ahead of this caller, from the queue's recent waits; None without
    enough of them, or without Redis."""
    try:
        return remaining(app.store.recent_waits(center), queued.time, queued.position) if center else None
    except StoreUnavailable:
        return None


def _seconds(value: str | None) -> int:
    """A whole number Twilio posted (QueueTime, QueuePosition); 0 for anything else."""
    return int(value) if value and value.isascii() and value.isdigit() else 0


def confirm(app: Onshore, request: TwilioRequest) -> str:
    """The answering side of a confirm bridge: the whisper (no Redis: the step is in the URL,
    the flow version in memory), then its key, recorded on the caller's call."""
    form = request.form
    try:
        call: Call | None = Call.from_query(request.args)
    except (KeyError, ValueError):
        call = None
    if call is not None:
        logs.at(call.flow, call.version, call.state)
    digits = form.get("Digits", "")
    if not digits:
        flow = _known_flow(app, call)
        line = whisper.line(flow, call, app.settings.home_country) if flow and call else whisper.FALLBACK
        return twiml.whisper(line)
    if call is None:  # a key on a whisper we cannot place: nobody to connect it to safely
        return twiml.whisper_answered(False)
    leg = form.get("CallSid", "")
    accepted, event = whisper.answer(call, digits, leg)
    # The answering leg's From is the caller ID it was shown: the caller's own, unless the
    # bridge showed the number dialed; then the URL carries the caller's keyed hash (i).
    hashed = request.args.get("i", "")
    return record(
        app,
        form.get("ParentCallSid") or leg,
        form.get("From", ""),
        twiml.whisper_answered(accepted),
        [event],
        hashed=hashed if evidence.is_caller_hash(hashed) else "",
    )


def _hashed(app: Onshore, form: Mapping[str, str]) -> str:
    """The caller's keyed hash, as every event of the call carries it."""
    return evidence.caller_hash(form.get("From", ""), app.keyring.secret)


def _known_flow(app: Onshore, call: Call | None) -> Flow | None:
    """The call's flow version, from memory or Redis; None when neither has it."""
    if call is None:
        return None
    try:
        return _flow(app, call.flow, call.version, True)
    except StoreUnavailable:
        return app.store.remembered_flow(call.flow, None)


def status(app: Onshore, request: TwilioRequest) -> str:
    """Twilio's status callback: the call's final state is evidence too. A callback
    configured as GET carries its parameters in the query string, signed with the URL."""
    form = request.form if request.method == "POST" else request.args
    call_status = form.get("CallStatus", "")
    event = Event(
        f"status:{call_status}",
        "status",
        (
            ("status", call_status),
            ("duration", form.get("CallDuration", "")),
            ("sequence", form.get("SequenceNumber", "")),
        ),
    )
    # a caller who hung up while waiting at a TaskRouter reservation: the Task canceled
    events = [event, *bind_routes.caller_gone(app, form.get("CallSid", ""), call_status)]
    return record(app, form.get("CallSid", ""), form.get("From", ""), twiml.empty(), events)


def _answer(
    app: Onshore,
    sid: str,
    scope: Scope,
    caller: str,
    now: datetime,
    decide: Callable[[View, bool], Decision],
    check: bool = True,
    hashed: str = "",
) -> str:
    """Decide on the scope's last view, then record the events in one round trip if its
    objects are still what Redis holds; otherwise decide again on the ones Redis sent back.
    When Redis cannot take them, the events go to the fsynced spool before the answer does."""
    store = app.store
    common = evidence.common_fields(sid, hashed or evidence.caller_hash(caller, app.keyring.secret), now)

    def sealed(events: list[Event]) -> list[tuple[str, str]]:
        return evidence.seal_all(app.keyring, common, events) if sid else []

    view = store.view(scope) if check else EMPTY
    sent: list[tuple[str, str]] = []  # the write in flight
    try:
        for attempt in range(3):
            decision = decide(view, True) if view is not EMPTY or not check else None
            expected = "*" if attempt == 2 or not check else (view.digest if decision else "")
            sent = sealed(decision[1]) if decision else []
            started = time.perf_counter()
            try:
                committed = store.commit(sid, scope, expected, sent)
            finally:
                metrics.COMMIT.observe(time.perf_counter() - started)
            sent = []
            if isinstance(committed, Stale):
                view = committed.view
            elif decision is not None:
                metrics.count(decision[1])
                return decision[0]
    except StoreUnavailable as exc:
        metrics.REDIS_ERRORS.labels(
            "breaker_open"
            if isinstance(exc, CircuitOpen)
            else "unconfirmed"
            if isinstance(exc, Unconfirmed)
            else "error"
        ).inc()
        if not isinstance(exc, CircuitOpen):  # while it is open, the breaker logs for all
            log.warning("redis unavailable (%s); answering from memory, evidence to the spool", exc)
        document, events = decide(store.fallback(scope.number), False)
        records = sealed(events)
        if sent and isinstance(exc, Unconfirmed):
            # Redis may have appended the write and lost its reply: the record then holds a
            # decision the caller never got, and says so next to the one they got. An event
            # both decisions hold word for word is one fact: it goes under the sent key, so
            # the record keeps it once whichever got there.
            key_of = {body: step_key for step_key, body in sent}
            records = [(key_of.get(body, step_key), body) for step_key, body in records]
            unheard = evidence.unconfirmed(sent, records)
            records += sealed([unheard]) if unheard else []
        _spool(app, sid, records)
        metrics.count(events)
        return document
    raise AssertionError("unreachable: the third attempt records unconditionally")


def record(
    app: Onshore,
    sid: str,
    caller: str,
    document: str,
    events: list[Event],
    hashed: str = "",
    now: datetime | None = None,
) -> str:
    """Record events that do not depend on the configuration (a status callback, a hold
    past its limit, a whisper's answer, a callback's or a reservation's step) and answer
    ``document``; spooled when Redis cannot take them."""
    decision = (document, events)
    return _answer(
        app,
        sid,
        Scope(),
        caller,
        now or app.clock(),
        lambda view, fresh: decision,
        check=False,
        hashed=hashed,
    )


def _spool(app: Onshore, sid: str, sealed: list[tuple[str, str]]) -> None:
    """Make the events durable on local disk; the caller is answered either way."""
    try:
        app.spool.append(Spooled(sid, step_key, body) for step_key, body in sealed)
    except OSError as exc:
        log.critical("evidence of call %s LOST: Redis down and spool unwritable: %s", sid, exc)


def _flow(app: Onshore, flow_id: str, version: int | None, fresh: bool) -> Flow | None:
    """The flow version a call runs on; without Redis, the newest one this process knows."""
    if version is None:
        return None
    if fresh:
        return app.store.flow(flow_id, version)
    return app.store.remembered_flow(flow_id, version) or app.store.remembered_flow(flow_id, None)


def _reply(form: Mapping[str, str]) -> Reply:
    get = form.get
    outcome = get("DialCallStatus") or get("QueueResult")
    if outcome:
        # CallStatus is the caller's own leg: "completed" once they have hung up
        # (https://www.twilio.com/docs/voice/twiml#request-parameters); QueueTime is the
        # seconds the caller spent in the queue (https://www.twilio.com/docs/voice/twiml/enqueue);
        # DialBridged says whether the Dial was connected to the dialed party
        # (https://www.twilio.com/docs/voice/twiml/dial#action).
        wait, bridged = get("QueueTime", ""), get("DialBridged", "").lower()
        return BridgeEnded(
            outcome,
            get("CallStatus") == "completed",
            wait if wait.isdigit() and len(wait) < 7 else "",
            {"true": True, "false": False}.get(bridged),
        )
    if get("HandoffData") or get("SessionStatus"):
        # an automated agent's session ended: the <Connect> action after <ConversationRelay>
        # (ivr.parameters.RELAY); at an automated state anything else is the same end
        return RelayEnded(get("HandoffData", "")[:1000], get("SessionStatus", "")[:40])
    if get("RecordingSid"):  # a voicemail's <Record> action
        return Recorded(get("RecordingSid", ""), get("RecordingUrl", ""), get("RecordingDuration", ""))
    if get("Digits") or get("SpeechResult"):
        return Heard(get("Digits", ""), get("SpeechResult", ""), _confidence(get("Confidence", "")))
    return Silence()


def _confidence(value: str) -> float:
    """Twilio's Confidence (0.0 to 1.0) of a SpeechResult; missing or malformed: no confidence."""
    try:
        confidence = float(value)
    except ValueError:
        return 0.0
    return confidence if 0.0 <= confidence <= 1.0 else 0.0


def _run(decide: Callable[[], Turn], flow: Flow, call: Call, facts: Facts) -> Turn:
    """The engine's turn, or the flow's safe answer when anything goes wrong."""

    def failed(exc: Exception) -> None:
        log.error(
            "flow %s v%s failed at %s; giving the safe answer",
            flow.id,
            flow.version,
            call.state,
            exc_info=exc,
        )

    return engine.turn_or_safe_answer(decide, flow, call, facts, failed)


def _lost(
    app: Onshore, sid: str, now: datetime, flow_id: str, reason: str, reply: Reply | None = None
) -> Decision:
    """A step we cannot place: the newest known version of its flow decides the safe answer.
    A voicemail's <Record> action is kept even then: the recording exists at Twilio, and the
    record must say so (a worker that never read the flow, with Redis down, lands here)."""
    kept: list[Event] = []
    if isinstance(reply, Recorded) and reply.sid:
        fields = (("recording", reply.sid), ("url", reply.url), ("duration", reply.duration))
        kept = [Event(f"voicemail_left:lost:{reply.sid}", "voicemail_left", fields)]
    flow = app.store.remembered_flow(flow_id, None)
    event = Event("safe_answer:lost", "safe_answer", (("reason", reason),))
    if flow is None:
        return twiml.apology(GENERIC_APOLOGY), [*kept, event]
    facts = Facts(sid, now, app.store.memory.latest.centers, app.settings.home_country, None, False)
    turn = engine.safe_answer(flow, Call(flow.id, flow.version, flow.start), facts, reason)
    return twiml.render(tuple(turn.actions)), [*kept, *turn.events]


def _domestic_facts(
    app: Onshore, flow: Flow, hashed: str, first: bool, read: dict[tuple[str, int], dict[str, Any]]
) -> dict[str, Any]:
    """What ``ivr.domestic`` reads from Redis: each domestic destination's estimated wait for
    a caller joining now (the queue's recent waits), and on a call's first webhook whether the
    caller has an open callback. Redis failing: no estimate, no callback known. Read once per
    webhook and flow version (``read``, the webhook's own): a decision taken again (a stale
    view, the answer from memory) does not ask Redis again."""
    if (flow.id, flow.version) in read:
        return read[(flow.id, flow.version)]
    out: dict[str, Any] = read.setdefault((flow.id, flow.version), {})
    if flow.announce_domestic_wait or flow.domestic_max_wait:
        waits = {}
        for center in {flow.domestic, *flow.domestic_by_language.values()}:
            try:
                estimate = remaining(app.store.recent_waits(center), 0)
            except StoreUnavailable:
                estimate = None
            if estimate is not None:
                waits[center] = estimate
        out["domestic_waits"] = waits
    if first and flow.callback is not None and hashed:
        try:
            out["callback_pending"] = _callbacks(app, lambda store: store.of_caller(hashed)) is not None
        except Exception:  # noqa: BLE001 - Redis down: the call goes on as if none were open
            log.warning("could not read whether the caller has an open callback")
    return out


def _carry_out(
    app: Onshore, turn: Turn, form: Mapping[str, str], without: Callable[[Facts], Turn], facts: Facts
) -> Turn:
    """Do what the engine asked of the edge: keep a callback's place in its destination's
    line, or cancel the caller's open callback. A callback Redis cannot take: the turn again
    with ``callbacks_down`` (voicemail, or the domestic bridge), and the request in the record."""
    from ivr import callbacks
    from ivr.callbacks import Callback

    hashed, sid = _hashed(app, form), form.get("CallSid", "")

    def cancel(store: Any) -> None:
        open_one = store.of_caller(hashed)
        if open_one is not None:
            store.swap(
                open_one,
                callbacks.close(open_one, "cancelled", "by the caller", time.time()),
                callbacks.OPEN_STATES,
            )

    for action in turn.actions:
        if isinstance(action, CancelCallback):
            try:
                _callbacks(app, cancel)
            except Exception:  # noqa: BLE001 - the cancel is recorded; the worker finds it closed or calls
                log.warning("call %s: the callback could not be cancelled in Redis", sid)
        if not isinstance(action, RequestCallback):
            continue
        policy, now = action.policy, time.time()
        callback = Callback(
            id=hashlib.sha256(f"{sid}:{turn.call.seq}".encode()).hexdigest()[:16],  # a replay: the same
            center=action.center,
            call_sid=sid,
            number=action.number,
            caller=hashed,
            called=form.get("To", ""),
            flow=turn.call.flow,
            version=turn.call.version,
            language=action.language,
            voice=action.voice,
            requested=now,
            attempts=policy.attempts,
            spacing=policy.spacing,
            ring_timeout=policy.ring_timeout,
        )
        try:
            place = _callbacks(app, partial(_request, callback))
        except Exception:  # noqa: BLE001 - Redis cannot keep the place: the caller's other way
            log.warning("call %s: callback not recorded (Redis); voicemail or the bridge instead", sid)
            return without(replace(facts, callbacks_down=True))
        number_hash = evidence.caller_hash(action.number, app.keyring.secret)
        turn.events = [
            e._replace(
                fields=(*e.fields, ("place", str(place)), ("number_hash", number_hash), ("id", callback.id))
            )
            if e.step == "callback_requested"
            else e
            for e in turn.events
        ]
    return turn


def voicemail_callback(app: Onshore, request: TwilioRequest) -> str:
    """A voicemail's callbacks (``<Record>``, ivr.twiml): recordingStatusCallback when the
    file is there or not (``voicemail_recording``), and transcribeCallback with the text or
    a failed status (``voicemail_transcript``, only with the flow's ``transcribe``). Both
    come after the call's own requests; each goes into that call's evidence once per
    recording, where ``ivr voicemail show`` reads it."""
    form = request.form
    recording = form.get("RecordingSid", "")
    if request.path == twiml.TRANSCRIPT_PATH:
        step = "voicemail_transcript"
        fields: tuple[tuple[str, str], ...] = (
            ("recording", recording),
            ("status", form.get("TranscriptionStatus", "")),
            ("transcription", form.get("TranscriptionSid", "")),
            ("text", form.get("TranscriptionText", "")),
        )
    else:
        step = "voicemail_recording"
        fields = (
            ("recording", recording),
            ("status", form.get("RecordingStatus", "")),
            ("url", form.get("RecordingUrl", "")),
            ("duration", form.get("RecordingDuration", "")),
            *((("error", form["ErrorCode"]),) if form.get("ErrorCode") else ()),
        )
    event = Event(f"{step}:{recording}", step, fields)
    return record(app, form.get("CallSid", ""), form.get("From", ""), twiml.empty(), [event])


def _callbacks(app: Onshore, use: Callable[[Any], T]) -> T:
    """A round trip to the callbacks' records (``ivr.callback_store``) from a webhook, under
    the store's breaker like every other one: while Redis is failing, StoreUnavailable at
    once instead of each webhook waiting out its own timeout."""
    store = _callback_store(app)
    return app.store.through_breaker(lambda: use(store))


def _request(callback: Any, store: Any) -> int:
    return int(store.request(callback))


def _callback_store(app: Onshore) -> Any:
    from ivr.callback_store import CallbackStore

    found = getattr(app, "_callback_store", None)
    if found is None:
        found = CallbackStore(app.store.client)
        object.__setattr__(app, "_callback_store", found)
    return found


def store_centers(app: Onshore) -> Mapping[str, Any]:
    return app.store.centers()


ROUTES: dict[str, Callable[[Onshore, TwilioRequest], str]] = {
    "/voice/callback": callback_routes.leg,
    "/voice/callback/status": callback_routes.status,
    "/voice/voicemail/transcript": voicemail_callback,
    "/voice/voicemail/recording": voicemail_callback,
    "/voice": voice,
    "/voice/step": step,
    "/voice/wait": wait,
    "/voice/status": status,
    "/voice/confirm": confirm,
    "/voice/assignment": bind_routes.assignment,
    "/voice/reserved": bind_routes.reserved,
    "/voice/agent": bind_routes.agent,
    "/voice/dequeue": bind_routes.dequeue,
    "/voice/home": agent_api.home,
}
# TaskRouter processes an assignment instruction only from a 200 with this content type
# (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks); an empty body
# leaves the reservation pending, which is also what a failure here answers.
JSON_ROUTES = frozenset({"/voice/assignment"})
# Twilio's console lets "Call status changes" be a GET; every other URL Onshore gives out is POST.
# https://www.twilio.com/docs/usage/webhooks/webhooks-security: "the parameters sent in the
# webhook (either GET or POST) and the exact URL" make the signature.
GET_ROUTES = frozenset({"/voice/status"})


class UnknownParameters(Forbidden):
    """Signed by Twilio, but carrying names Twilio does not send to that URL."""


class Webhooks:
    """The WSGI app for Twilio's URLs: POST (and GET for status), signature first, TwiML
    whatever fails."""

    def __init__(self, app: Onshore) -> None:
        self.app = app
        self.extra_names = parameters.extra_names(app.settings.extra_parameters)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        try:  # the checks too: a failure there is ours, not the caller's
            refused, request = self.unread_refusal(environ), None
            if refused is None:
                try:
                    request = TwilioRequest(environ)
                except HTTPException as exc:  # too slow, or shorter than declared
                    refused = exc
                else:
                    refused = self.refusal(request)
            body = b""
            if refused is not None:
                log.warning("refused a request for %s: %s", path, refused.code)
            elif request is not None:
                sid = (request.form if request.method == "POST" else request.args).get("CallSid", "")
                environ["onshore.call_sid"] = sid  # for the access log line
                with logs.call(sid):
                    body = ROUTES[path](self.app, request).encode()
                    environ["onshore.place"] = logs.place()  # for the access log line too
        except Exception:  # noqa: BLE001 - the last resort: never Twilio's "application error"
            log.exception("unhandled error on %s", path)
            last_resort = (
                keep_holding(_asked(environ), self.app.settings.home_country)
                if path == twiml.WAIT_PATH
                else ""
                if path in JSON_ROUTES
                else twiml.apology(GENERIC_APOLOGY)
            )
            refused, body = None, last_resort.encode()
        route = metrics.route(path, ROUTES)
        if refused is not None:
            twilio_request.stop_reading(environ)
            metrics.refused(
                route, refused.code or 0, "parameters" if isinstance(refused, UnknownParameters) else ""
            )
            answer = refused(environ, start_response)
        else:
            json_answer = path in JSON_ROUTES
            kind = (
                ("application/json" if body else "text/plain") if json_answer else "text/xml; charset=utf-8"
            )
            start_response("200 OK", [("Content-Type", kind), ("Content-Length", str(len(body)))])
            answer = [body]
        metrics.LATENCY.labels(route).observe(time.perf_counter() - started)
        return answer

    @staticmethod
    def unread_refusal(environ: dict[str, Any]) -> HTTPException | None:
        """Why a request is refused before its body is read: not ours, not a method it takes,
        no signature, not a form, or too large (``ivr.twilio_request``)."""
        if environ.get("PATH_INFO", "") not in ROUTES:
            return NotFound()
        method = environ.get("REQUEST_METHOD", "GET")
        if method != "POST" and (method != "GET" or environ["PATH_INFO"] not in GET_ROUTES):
            in_get = environ["PATH_INFO"] in GET_ROUTES
            return MethodNotAllowed(["GET", "POST"] if in_get else ["POST"])
        return twilio_request.refusal(environ)

    def refusal(self, request: TwilioRequest) -> HTTPException | None:
        """Why a request that was read gets no TwiML: not signed by Twilio, or signed but
        carrying names Twilio does not send to that URL (``ivr.parameters``)."""
        if not signed_by_twilio(self.app, request):
            return Forbidden()
        sent = request.form if request.method == "POST" else request.args  # every name once
        unknown = parameters.unknown(request.path, sent.keys(), self.extra_names)
        if unknown:
            parameters.record_refusal(request.path, unknown)
            return UnknownParameters()
        return None


health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process is alive."""
    return Response("ok\n", mimetype="text/plain")


@health.get("/readyz")
def readyz() -> Response:
    """Redis answers; a load balancer may send calls here."""
    if current_app.extensions["onshore"].store.ping():
        return Response("ready\n", mimetype="text/plain")
    return Response("redis unavailable\n", status=503, mimetype="text/plain")


def init_app(app: Flask, onshore: Onshore) -> None:
    """Mount the webhooks in front of the Flask app (every path under /voice), and the
    health checks on it."""
    app.extensions["onshore"] = onshore
    webhooks, flask_app = Webhooks(onshore), app.wsgi_app

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/voice" or path.startswith("/voice/"):
            return webhooks(environ, start_response)
        return flask_app(environ, start_response)

    app.wsgi_app = dispatch  # type: ignore[method-assign]
    app.register_blueprint(health)
