"""The webhooks of a TaskRouter reservation (``ivr.bind`` decides; this is the edge).

- ``/voice/assignment``: the workflow's Assignment Callback URL. Signed like every Twilio
  request; answered within TaskRouter's 5 s with ``application/json``: the ``redirect``
  instruction for an Onshore call, or an empty 200 (TaskRouter's "manual" model: the
  reservation stays pending and times out) for a Task Onshore did not create. Nothing is
  recorded here: the caller's own leg records the reservation when it arrives.
- ``/voice/reserved``: the caller's leg at a reservation (``ivr.bind.at_reservation``), the
  offer's answer, the domestic bridge that may follow, and the end of the conference.
  The TaskRouter requests a turn needs (dial the worker, cancel the Task) are made once per
  request, before the turn is recorded; a failure sends the caller to the domestic line.
  The worker is asked for once per ReservationSid (``ivr.pending_tasks.claim_dial``): a
  replayed consent gets the same TwiML and TaskRouter no second ``call`` instruction.
  While the caller is at a reservation Onshore holds its Task (``ivr.pending_tasks``); the
  call's status callback cancels a Task still held (``caller_gone``): the caller hung up
  out of TaskRouter's sight, and no worker is to be rung for nobody.
- ``/voice/dequeue``: a shared named queue's ``<Dial><Queue url>``, on the caller's leg just
  before an agent who dequeued them is bridged: where that agent sits (``ivr.bind.at_dequeue``).
- ``/voice/agent``: the worker's leg when it answers: the reservation is accepted, then the
  conference; a reservation that is no longer pending (timed out, canceled) hangs that leg
  up, so no worker is ever joined to a caller Onshore did not send.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from ivr import bind, engine, evidence, pending_tasks, twiml, whisper
from ivr.bind import Reservation
from ivr.flow import Center
from ivr.places import country_name
from ivr.store import Scope, View
from ivr.taskrouter_api import TaskRouterApi, TaskRouterUnavailable
from ivr.twilio_request import TwilioRequest
from ivr.vocabulary import Call, Event, Facts, Speak, Turn

if TYPE_CHECKING:
    from ivr.webhooks import Decision, Onshore

log = logging.getLogger(__name__)
NO_API = "no TaskRouter credentials (TWILIO_ACCOUNT_SID)"
# The call's own end (https://www.twilio.com/docs/voice/api/call-resource#call-status-values)
ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def base_url(app: Onshore, request: TwilioRequest) -> str:
    """Scheme and host Twilio reaches this service at (``PUBLIC_BASE_URL`` when set)."""
    return app.settings.public_base_url.rstrip("/") or request.origin


def assignment(app: Onshore, request: TwilioRequest) -> str:
    """TaskRouter reserved a worker: send the caller's call to hear where they are."""
    parsed = bind.assignment(request.form, app.clock().timestamp())
    if parsed is None:
        log.info(
            "assignment callback for task %s is not an Onshore call's; left pending",
            request.form.get("TaskSid", "")[:34],
        )
        return ""
    reservation, call, call_sid = parsed
    log.info("reservation %s: worker site %s", reservation.reservation, reservation.site or "unknown")
    url = bind.reserved_url(base_url(app, request), call, reservation)
    return json.dumps(bind.redirect(call_sid, url))


def reserved(app: Onshore, request: TwilioRequest) -> str:
    """The caller's leg at a reservation."""
    from ivr import webhooks

    form, args = request.form, request.args
    sid, now = form.get("CallSid", ""), app.clock()
    try:
        call: Call | None = Call.from_query(args)
    except (KeyError, ValueError):
        call = None
    found = Reservation.from_query(args)
    phase = args.get("p", "")
    reply = webhooks._reply(form)
    base = base_url(app, request)
    done: dict[str, str] = {}  # TaskRouter requests made in this request: once, whatever retries

    def decide(view: View, fresh: bool) -> Decision:
        flow = webhooks._flow(app, call.flow, call.version, fresh) if call else None
        if call is None or flow is None or found is None:
            reason = "malformed reservation URL" if call is None or found is None else "flow version unknown"
            return webhooks._lost(app, sid, now, args.get("f", ""), reason)
        reservation: Reservation = found
        centers = _with_site(app, view, reservation.site) if fresh else view.centers
        facts = Facts(sid, now, centers, app.settings.home_country, call.exempt or None, fresh)  # type: ignore[arg-type]
        extra = (*reservation.query(), ("p", bind.ANSWER))
        if not call.state.startswith(bind.BOUND):  # the domestic bridge that followed
            turn = webhooks._run(lambda: engine.resume(flow, call, reply, facts), flow, call, facts)
            return twiml.render(tuple(turn.actions), bind.RESERVED_PATH, extra), turn.events
        if phase == bind.ENDED:
            turn = bind.conference_ended(flow, call, reservation, facts, reply)
            return twiml.render(tuple(turn.actions), bind.RESERVED_PATH, extra), turn.events
        if phase == bind.CONNECT:  # the worker answered: Onshore moved the call here
            turn = bind.joined(call, reservation, facts)
            ended = twiml.step_url(turn.call, bind.RESERVED_PATH, (*reservation.query(), ("p", bind.ENDED)))
            return twiml.join((), reservation.reservation, ended), turn.events
        if not fresh:
            bound = bind.refuse(flow, Turn(call), facts, reservation, "center lookup unavailable")
        elif phase == bind.HOLDING:
            bound = bind.holding(flow, call, reservation, facts, reply)
        else:
            bound = bind.at_reservation(
                flow, call, reservation, facts, reply if phase == bind.ANSWER else None
            )
        holding = twiml.step_url(call, bind.RESERVED_PATH, (*reservation.query(), ("p", bind.HOLDING)))
        if bound.hold:
            return twiml.holding(bind.hold_lines(flow, facts, call), holding), bound.turn.events
        if bound.join:
            agent = bind.agent_url(base, call, reservation, sid, webhooks._hashed(app, form))
            failed = _once(done, "dial", lambda: _dial_once(app, sid, reservation, agent))
            if not failed:
                return twiml.holding(bind.hold_lines(flow, facts, call), holding), bound.turn.events
            bound = bind.refuse(flow, bound.turn, facts, reservation, failed)
        events = bound.turn.events
        if bound.cancel:
            failed = _once(done, "cancel", lambda: _cancel(app, sid, reservation, bound.cancel))
            if failed:
                events = [
                    *events,
                    Event(
                        f"task_cancel:{call.seq}:{reservation.state}", "task_cancel", (("failed", failed),)
                    ),
                ]
        return twiml.render(tuple(bound.turn.actions), bind.RESERVED_PATH, extra), events

    if phase == "" and call is not None and found is not None and call.state.startswith(bind.BOUND):
        _keeping(app, sid, "hold", lambda client: pending_tasks.hold(client, sid, found))
    scope = Scope(flow=call.flow, version=call.version) if call else Scope()
    return webhooks._answer(app, sid, scope, form.get("From", ""), now, decide)


def caller_gone(app: Onshore, sid: str, call_status: str) -> list[Event]:
    """The call's status callback said it ended: a Task Onshore still holds for it (the
    caller hung up while waiting at a reservation, out of TaskRouter's sight) is canceled,
    so no worker is rung for nobody; the cancel (or why it failed) goes into the evidence."""
    if app.taskrouter is None or call_status not in ENDED_STATUSES or not bind.SID.match(sid):
        return []
    try:
        held = pending_tasks.take(app.store.client, sid)
    except (RedisError, OSError) as exc:
        log.warning("call %s: the Task it may wait on is unreadable (%s)", sid, exc)
        return []
    if held is None:
        return []
    workspace, task, reservation = held
    found = Reservation(workspace, task, reservation, "WK" + "0" * 32, "")
    reason = f"the caller's call ended ({call_status}) while waiting for the reserved worker"
    failed = _once({}, "cancel", lambda: app.taskrouter.cancel(found, reason) if app.taskrouter else None)
    outcome = (("failed", failed),) if failed else (("outcome", "canceled"),)
    return [
        Event(
            f"task_cancel:gone:{reservation}",
            "task_cancel",
            (("reason", reason), ("task", task), ("reservation", reservation), *outcome),
        )
    ]


def agent(app: Onshore, request: TwilioRequest) -> str:
    """The worker's leg answered: accept the reservation, move the caller into the
    conference, then the worker (their whisper first, when the flow has one)."""
    from ivr import webhooks

    args, form = request.args, request.form
    reservation = Reservation.from_query(args)
    caller, hashed = args.get("cs", ""), args.get("i", "")
    try:
        call = Call.from_query(args)
    except (KeyError, ValueError):
        return twiml.hangup()
    if reservation is None or not bind.SID.match(caller):
        return twiml.hangup()
    base = base_url(app, request)
    connect = bind.reserved_url(base, call, reservation, bind.CONNECT)
    holding = bind.reserved_url(base, call, reservation, bind.HOLDING)
    outcome = _answered_once(
        app, caller, reservation, lambda: _join_worker(app, caller, reservation, connect, holding)
    )
    if outcome:
        document = twiml.hangup()
    else:
        flow = webhooks._known_flow(app, call)
        lines = (
            (whisper.agent_line(flow, call.language, args.get("st") == "1", app.settings.home_country),)
            if flow is not None and flow.agent_whisper
            else ()
        )
        outcome, document = "accepted", twiml.agent_leg(lines, reservation.reservation)
    event = Event(
        f"accepted:0:{reservation.state}",
        "agent_answered",
        (
            ("outcome", outcome),
            ("site", reservation.site),
            ("worker", reservation.worker),
            ("reservation", reservation.reservation),
            ("leg", form.get("CallSid", "")),
        ),
    )
    return webhooks.record(
        app, caller, "", document, [event], hashed=hashed if evidence.is_caller_hash(hashed) else ""
    )


def _answered_once(app: Onshore, caller: str, reservation: Reservation, join: Callable[[], str]) -> str:
    """The worker's answer acted on once per reservation: a replayed ``/voice/agent`` (Twilio's
    retry, a replayed request) neither moves the caller again nor, finding the reservation
    accepted, takes them back out of the conference; it answers as the first did. Redis
    failing to keep the claim: acted on (the worker is on the line)."""
    name = reservation.reservation + "-agent"
    try:
        earlier = pending_tasks.claim_dial(app.store.client, caller, name)
    except (RedisError, OSError) as exc:
        log.warning("call %s: the worker's answer could not be claimed (%s)", caller, exc)
        return join()
    if earlier is not None:
        log.info("reservation %s: the worker's answer again (replay)", reservation.reservation)
        return "" if earlier in ("", pending_tasks.DIALING) else earlier
    outcome = join()
    _keeping(app, caller, "agent", lambda c: pending_tasks.dialed(c, caller, name, outcome))
    return outcome


def _api(app: Onshore) -> TaskRouterApi:
    if app.taskrouter is None:
        raise TaskRouterUnavailable(NO_API)
    return app.taskrouter


def _keeping(app: Onshore, sid: str, what: str, request: Callable[[Any], object]) -> object:
    """One ``ivr.pending_tasks`` request; Redis failing leaves the call to carry on without
    it (the result None)."""
    try:
        return request(app.store.client)
    except (RedisError, OSError) as exc:
        log.warning("call %s: pending task %s failed (%s)", sid, what, exc)
        return None


def _dial_once(app: Onshore, sid: str, reservation: Reservation, agent: str) -> None:
    """The reservation's call instruction, once per ReservationSid: a replayed consent (a
    retry, a replayed request) answers as the first did, and TaskRouter calls the worker
    once. Redis failing to keep the claim: the worker is called (the caller comes first)."""
    try:
        earlier = pending_tasks.claim_dial(app.store.client, sid, reservation.reservation)
    except (RedisError, OSError) as exc:
        log.warning("call %s: the call instruction's claim failed (%s); calling the worker", sid, exc)
        _api(app).dial_worker(reservation, agent)
        return
    if earlier is not None:
        log.info("reservation %s: worker already asked for (replay)", reservation.reservation)
        if earlier not in ("", pending_tasks.DIALING):
            raise TaskRouterUnavailable(earlier)
        return
    try:
        _api(app).dial_worker(reservation, agent)
    except TaskRouterUnavailable as exc:
        why = str(exc)[:200]
        _keeping(app, sid, "dial", lambda c: pending_tasks.dialed(c, sid, reservation.reservation, why))
        raise
    _keeping(app, sid, "dial", lambda c: pending_tasks.dialed(c, sid, reservation.reservation, ""))


def _cancel(app: Onshore, sid: str, reservation: Reservation, reason: str) -> None:
    """Cancel the call's Task; once canceled, Onshore no longer holds it."""
    _api(app).cancel(reservation, reason)
    _keeping(app, sid, "release", lambda c: pending_tasks.release(c, sid))


def _once(done: dict[str, str], what: str, request: Callable[[], None]) -> str:
    """Make a TaskRouter request once per webhook; "" when it succeeded, else why not."""
    if what not in done:
        try:
            request()
            done[what] = ""
        except TaskRouterUnavailable as exc:
            log.warning("%s", exc)
            done[what] = str(exc)[:200]
    return done[what]


def dequeue(app: Onshore, request: TwilioRequest) -> str:
    """A shared queue's ``<Dial><Queue url>``: runs on the waiting caller's leg just before the
    agent who dequeued them is bridged; ``site`` (in the URL the agent app gives) is where
    that agent sits. The caller's language and queue come from the call's record."""
    from ivr import webhooks

    form, args = request.form, request.args
    sid, now = form.get("CallSid", ""), app.clock()
    agent_leg = form.get("DequeingCallSid", "")[:34]
    try:
        entries = app.store.call_entries(sid) if bind.SID.match(sid) else []
    except Exception as exc:  # noqa: BLE001 - Redis away: say what can be said without the record
        log.warning("call %s: record unreadable at dequeue (%s)", sid, exc)
        entries = []
    queued = bind.queued(entry for _, entry in entries)

    def decide(view: View, fresh: bool) -> Decision:
        flow = webhooks._flow(app, queued.flow, queued.version, fresh) if queued else None
        if queued is None or flow is None:
            event = Event(
                f"dequeue_refused:0:{agent_leg}",
                "dequeue_refused",
                (
                    ("reason", "call record unreadable"),
                    ("site", args.get("site", "")[:64]),
                    ("leg", agent_leg),
                ),
            )
            text = bind.UNPLACED["en"].format(home_country=country_name(app.settings.home_country, "en-US"))
            return twiml.render((Speak(text, "en-US"),)), [event]
        centers = _with_site(app, view, args.get("site", "")) if fresh else view.centers
        facts = Facts(sid, now, centers, app.settings.home_country, None, fresh)
        turn = bind.at_dequeue(flow, queued, args.get("site", ""), agent_leg, facts)
        return twiml.render(tuple(turn.actions)), turn.events

    scope = Scope(flow=queued.flow, version=queued.version) if queued else Scope()
    return webhooks._answer(app, sid, scope, form.get("From", ""), now, decide)


def _with_site(app: Onshore, view: View, site: str) -> Mapping[str, Center]:
    """The view's centers, and the published ones when the site is not among them (a worker
    that had not read the shared center yet asked Redis for the flow's own centers only)."""
    if not site or site in view.centers:
        return view.centers
    try:
        return {**app.store.centers(), **view.centers}
    except Exception as exc:  # noqa: BLE001 - without them the site stays unknown: refused safely
        log.warning("centers unreadable for site %s: %s", site[:64], exc)
        return view.centers


def _join_worker(app: Onshore, caller: str, reservation: Reservation, connect: str, holding: str) -> str:
    """Move the caller to the conference, then accept the reservation; "" when both were
    done, else what failed. The caller first: a caller who hung up while the worker's
    phone rang cannot be moved, and the Task is canceled instead of accepted for nobody.
    A reservation that can no longer be accepted (it timed out while the phone rang) puts
    the caller back to waiting, key live, until TaskRouter's next reservation."""
    try:
        api = _api(app)
        api.bring(caller, connect)
    except TaskRouterUnavailable as exc:
        _once(
            {},
            "cancel",
            lambda: _cancel(app, caller, reservation, "the caller's call could not be moved to the worker"),
        )
        return f"caller not moved: {str(exc)[:160]}"
    try:
        api.accept(reservation)
    except TaskRouterUnavailable as exc:
        _once({}, "back", lambda: api.bring(caller, holding))
        return f"not accepted: {str(exc)[:160]}"
    _keeping(app, caller, "release", lambda c: pending_tasks.release(c, caller))
    return ""
