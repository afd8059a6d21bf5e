"""Disclosure at the bridge: the site of the agent TaskRouter actually reserved.

Theory of operation. A TaskRouter workflow (or a queue several sites share) is answered by
whichever agent is free, wherever they sit, so the disclosure a caller heard on the way in
can name only the places they may be answered from. The truth is known when TaskRouter
reserves a worker: it posts the workflow's Assignment Callback URL with the Task, the
Worker and the Reservation (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks).
The worker's ``site`` attribute names one of the centers the workflow's center lists in
``sites``; Onshore answers the callback with the ``redirect`` instruction, ``accept`` false,
so the reservation stays pending and the caller's call (the Task's ``call_sid``) is taken
out of the queue to Onshore's ``/voice/reserved`` URL. There, on the caller's leg:

1. an offshore site the caller has not heard named: its city and country, spoken alone,
   then the transfer offer, listening for the key and the words; only silence after the
   whole offer is consent, exactly as at a ``disclose`` state (``ivr.engine``);
2. a domestic site, an exempt number, or a site already named: nothing to say;
3. consent (or nothing to say): the edge asks TaskRouter to call the worker (the ``call``
   instruction on the Reservation, ``accept`` false) while the caller waits with the offer
   and music, the transfer key live; when the worker's leg answers (``/voice/agent``),
   Onshore accepts the reservation, moves the caller's call (REST) into a conference named
   after the ReservationSid and sends the worker into it, the way Twilio's page describes:
   "dial the worker in a Conference named by the ReservationSid";
4. the transfer asked for (or the offer never answered with consent, or a site Onshore
   cannot place): the domestic line, and the edge cancels the Task, so the pending
   reservation is never accepted by the offshore worker.

A worker who does not answer lets the reservation time out; TaskRouter then reserves the
next one and posts again, and the caller hears the new site whenever it is another place.
The wait has the queue's bound (``max_wait``, counted from the Task's creation, which the
callback's ``TaskAge`` dates): past it the caller goes home and the Task is canceled.

The reservation's ids travel in the URL Onshore gives TaskRouter (Twilio signs the request
for it), with the call's own step (``Call.to_query``) that Onshore put in the Task's
attributes when it enqueued the call. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from ivr import bridges, disclosure, engine, step_query, wording
from ivr.flow import TWILIO_HOLD_MUSIC, Center, Disclose, Flow
from ivr.vocabulary import BridgeEnded, Call, End, Facts, Heard, Play, Reply, Speak, Turn

RESERVED_PATH = "/voice/reserved"
AGENT_PATH = "/voice/agent"
TASK_KEY = "onshore"  # the Task attribute that holds the call's step
SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
SITE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Phases of /voice/reserved: the offer's answer, the wait while the worker is called (the
# transfer key live), the worker answered (join the conference), the conference ended.
ANSWER, HOLDING, CONNECT, ENDED = "a", "h", "c", "j"
BOUND = "@r-"  # the call's state at a reservation: evidence keys are per reservation


@dataclass(frozen=True)
class Reservation:
    """One TaskRouter reservation of a worker for an Onshore call."""

    workspace: str
    task: str
    reservation: str
    worker: str
    site: str  # the worker's ``site`` attribute ("" when it has none Onshore can read)
    number: str = ""  # the number the caller called: caller ID of the call to the worker
    bridge: str = ""  # the flow's bridge state that enqueued the call
    created: int = 0  # when the Task was created (epoch seconds, from TaskAge); 0: unknown

    @property
    def state(self) -> str:
        """The call's state while at this reservation."""
        return BOUND + self.reservation

    def query(self) -> tuple[tuple[str, str], ...]:
        """The reservation's part of an Onshore URL (every value unreserved characters)."""
        return (
            ("rw", self.workspace),
            ("rt", self.task),
            ("rr", self.reservation),
            ("rk", self.worker),
            ("rs", self.site),
            ("ro", self.number.lstrip("+")),
            ("rb", step_query.encode(self.bridge)),
            *((("rc", str(self.created)),) if self.created else ()),
        )

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> Reservation | None:
        """Inverse of ``query``; None when an id is missing or malformed."""
        workspace, task, reservation, worker = ids = [args.get(n, "") for n in ("rw", "rt", "rr", "rk")]
        if not all(SID.match(sid) for sid in ids):
            return None
        site, number, created = args.get("rs", ""), args.get("ro", ""), args.get("rc", "")
        try:
            bridge = step_query.decode(args.get("rb", ""))
        except ValueError:
            return None
        return cls(
            workspace,
            task,
            reservation,
            worker,
            site if SITE.match(site) else "",
            f"+{number}" if number.isdigit() else "",
            bridge,
            int(created) if created.isdigit() and len(created) <= 12 else 0,
        )


def task_attributes(attributes: tuple[tuple[str, str], ...], call: Call) -> str:
    """The ``<Task>`` JSON of an enqueued call: what the workflow routes on, and the call's
    step, so the assignment callback can send the call on from where it is."""
    return json.dumps({**dict(attributes), TASK_KEY: call.to_query()}, sort_keys=True)


def assignment(form: Mapping[str, str], now: float = 0.0) -> tuple[Reservation, Call, str] | None:
    """(reservation, the call's step, the caller's CallSid) from an assignment callback
    received at ``now`` (epoch seconds; 0: the Task's age unused); None for a Task Onshore
    did not create or a callback it cannot read."""
    try:
        task = json.loads(form.get("TaskAttributes", "") or "{}")
        worker = json.loads(form.get("WorkerAttributes", "") or "{}")
    except ValueError:
        return None
    if not isinstance(task, dict) or not isinstance(worker, dict) or not isinstance(task.get(TASK_KEY), dict):
        return None
    call_sid = task.get("call_sid")
    if not isinstance(call_sid, str) or not SID.match(call_sid):
        return None
    try:
        call = Call.from_query({str(k): str(v) for k, v in task[TASK_KEY].items()})
    except (KeyError, ValueError):
        return None
    site = worker.get("site")
    number = task.get("to")
    age = form.get("TaskAge", "")  # seconds since the Task was created: the caller's wait
    created = int(now) - int(age) if now and age.isdigit() and len(age) <= 9 else 0
    reservation = Reservation.from_query(
        {
            "rw": form.get("WorkspaceSid", ""),
            "rt": form.get("TaskSid", ""),
            "rr": form.get("ReservationSid", ""),
            "rk": form.get("WorkerSid", ""),
            "rs": site if isinstance(site, str) else "",
            "ro": number.lstrip("+") if isinstance(number, str) else "",
            "rb": step_query.encode(call.state),
            "rc": str(created) if created > 0 else "",
        }
    )
    return (reservation, call._replace(state=reservation.state), call_sid) if reservation else None


def reserved_url(base: str, call: Call, reservation: Reservation, phase: str = "") -> str:
    """Where the caller's leg goes for this reservation (``phase`` "a": the offer's answer)."""
    query = [*call.to_query().items(), *reservation.query(), *([("p", phase)] if phase else [])]
    return f"{base}{RESERVED_PATH}?{urlencode(query)}"


def agent_url(base: str, call: Call, reservation: Reservation, caller: str, hashed: str) -> str:
    """What the worker's leg runs when it answers: the whisper (when the flow has one),
    then the conference; ``cs`` and ``i`` are the caller's CallSid and keyed hash, so the
    worker's answer is recorded on the caller's call."""
    query = [*call.to_query().items(), *reservation.query(), ("cs", caller), ("i", hashed)]
    if call.heard:  # the caller heard a location and the offer, and stayed
        query.append(("st", "1"))
    return f"{base}{AGENT_PATH}?{urlencode(query)}"


def redirect(call_sid: str, url: str) -> dict[str, object]:
    """The assignment instruction: take the caller's call to ``url``, leaving the
    reservation pending (``accept`` false), so no worker is accepted before the caller
    heard where the worker is and had the chance to refuse."""
    return {"instruction": "redirect", "call_sid": call_sid, "url": url, "accept": False}


@dataclass
class Bound:
    """What happens at a reservation: the turn (what the caller hears, the evidence), and
    what the edge must then ask of TaskRouter: ``join`` (the caller joins the conference
    named after the reservation; dial the worker into it) or ``cancel`` (a reason: the
    caller goes to the domestic line; cancel the Task, so nobody accepts it)."""

    turn: Turn
    join: bool = False
    cancel: str = ""
    hold: bool = False  # the caller keeps waiting for the worker, the transfer key live


def at_reservation(flow: Flow, call: Call, reservation: Reservation, facts: Facts, reply: Reply) -> Bound:
    """The caller's leg at a reservation: ``reply`` None on arrival, else the offer's answer."""
    turn = Turn(call._replace(state=reservation.state))
    shared = facts.centers.get(call.center)
    site = facts.centers.get(reservation.site) if reservation.site else None
    if shared is None or site is None or reservation.site not in shared.target.sites:
        reason = "unknown worker site" if site is None else f"site not among center '{call.center}' sites"
        return refuse(flow, turn, facts, reservation, reason)
    offshore = site.country != facts.home
    if reply is None:
        turn.note(
            "reserved",
            center=call.center,
            site=site.id,
            city=site.city,
            country=site.country,
            region=site.region,
            worker=reservation.worker,
            reservation=reservation.reservation,
            task=reservation.task,
            domestic=str(not offshore).lower(),
        )
        if call.domestic and offshore:
            return refuse(flow, turn, facts, reservation, "the caller asked for a domestic agent")
        if not offshore or facts.exempt or call.heard == site.location:
            reason = facts.exempt or ("domestic-center" if not offshore else "already-disclosed")
            turn.note("exempt", reason=reason, center=site.id, bind="reservation")
            return _join(turn, site, reservation)
        state = disclosure_state(flow, reservation.bridge)
        if state is None:
            return refuse(flow, turn, facts, reservation, "the flow has no disclosure text")
        return Bound(_disclose(flow, turn, facts, state, site))
    return _answered(flow, turn, facts, reply, site, reservation)


def disclosure_state(flow: Flow, bridge: str) -> Disclose | None:
    """The disclosure whose texts speak at a reservation: the one leading to the call's
    bridge, else the flow's first (``ivr check`` refuses a workflow bridge without one)."""
    disclosures = [s for s in flow.states.values() if isinstance(s, Disclose)]
    return next((s for s in disclosures if s.next == bridge), disclosures[0] if disclosures else None)


def _disclose(flow: Flow, turn: Turn, facts: Facts, state: Disclose, site: Center) -> Turn:
    call = turn.call
    lang = flow.speaking(call.language)
    line = wording.fill(state.text, flow, facts, site, lang.code)
    turn.note(
        "disclosed",
        center=site.id,
        city=site.city,
        country=site.country,
        text=line,
        language=lang.tag,
        prompt="alone",
        bind="reservation",
    )
    turn.actions.append(Speak(line, lang.tag, lang.voice))
    turn.call = call._replace(heard=site.location, misses=0)
    return _offer(flow, turn, facts, state, site)


def _offer(flow: Flow, turn: Turn, facts: Facts, state: Disclose, site: Center) -> Turn:
    lang = flow.speaking(turn.call.language)
    return disclosure.offer(
        flow, turn, facts, wording.fill(state.offer, flow, facts, site, lang.code), state.timeout
    )


def _answered(
    flow: Flow, turn: Turn, facts: Facts, reply: Reply, site: Center, reservation: Reservation
) -> Bound:
    """Silence after the whole offer joins; the transfer, or input never understood
    within the disclosure's retries, goes to the domestic line."""
    call = turn.call
    state = disclosure_state(flow, reservation.bridge)
    # A reply that is neither Heard nor Silence ends as silence: consent, as at a disclosure.
    retries = state.retries if state else 0
    matched, result = disclosure.answer_noted(flow, turn, reply, retries, bind="reservation")
    if result == "next" and call.heard == site.location:
        return _join(turn, site, reservation)
    if result == "again" and state is not None:
        turn.call = call._replace(misses=call.misses + 1)
        return Bound(_offer(flow, turn, facts, state, site))
    how = matched if result == "transfer" else ""
    reason = "the caller asked for the domestic line" if how else "no consent at the reservation's offer"
    return Bound(bridges.transfer(flow, turn, facts, how), cancel=reason)


def _join(turn: Turn, site: Center, reservation: Reservation) -> Bound:
    """Consent (or nothing to say): the edge asks TaskRouter to call the worker."""
    turn.note("consented", center=site.id, worker=reservation.worker, reservation=reservation.reservation)
    return Bound(turn, join=True)


def holding(flow: Flow, call: Call, reservation: Reservation, facts: Facts, reply: Reply) -> Bound:
    """The caller waits while TaskRouter calls the worker, hearing the offer and music with
    the transfer key live (``hold``); the key goes home, and the Task is canceled. So does a
    wait past the workflow center's ``max_wait`` (else the flow's; 0: no limit), counted,
    as in its queue, from when the caller began waiting for an agent: the Task's creation
    (TaskAge). Only a hold document's end or a key asks here, so a worker called at this
    reservation has rung for at least one whole hold document."""
    turn = Turn(call._replace(state=reservation.state))
    if isinstance(reply, Heard) and reply.digits.strip().startswith(flow.transfer_key):
        turn = bridges.transfer(flow, turn, facts, "key during hold")
        return Bound(turn, cancel="the caller asked for the domestic line while the worker was called")
    center = facts.centers.get(call.center)
    limit = (center.max_wait if center else 0) or flow.max_wait
    waited = int(facts.now.timestamp()) - reservation.created if reservation.created else 0
    if limit and waited >= limit:
        turn.note(
            "wait_limit",
            center=call.center,
            queue_time=str(waited),
            max_wait=str(limit),
            site=reservation.site,
            reservation=reservation.reservation,
            bind="reservation",
        )
        turn = bridges.transfer(flow, turn, facts, "")
        return Bound(turn, cancel=f"the caller waited {waited} s, past max_wait {limit} s, for a worker")
    return Bound(turn, hold=True)


def hold_lines(flow: Flow, facts: Facts, call: Call) -> tuple[Speak | Play, ...]:
    """What the caller hears while the worker is called: the offer, then a segment of music."""
    music = flow.hold_music[0] if flow.hold_music else TWILIO_HOLD_MUSIC[0]
    return (engine.hold_offer(flow, facts, call.language), Play(music))


def joined(call: Call, reservation: Reservation, facts: Facts) -> Turn:
    """The worker answered and was accepted: the caller joins the reservation's conference,
    a bridge at the worker's site (the report counts it there)."""
    turn = Turn(call._replace(state=reservation.state).waiting())
    site = facts.centers.get(reservation.site)
    turn.note(
        "joined",
        center=reservation.site,
        city=site.city if site else "",
        country=site.country if site else "",
        region=site.region if site else "",
        conference=reservation.reservation,
        worker=reservation.worker,
    )
    return turn


def refuse(flow: Flow, turn: Turn, facts: Facts, reservation: Reservation, reason: str) -> Bound:
    """A reservation Onshore cannot disclose truthfully: never bridged; the domestic line."""
    turn.note(
        "reservation_refused",
        reason=reason,
        site=reservation.site or "unknown",
        worker=reservation.worker,
        reservation=reservation.reservation,
    )
    return Bound(bridges.transfer(flow, turn, facts, ""), cancel=reason)


def conference_ended(flow: Flow, call: Call, reservation: Reservation, facts: Facts, reply: Reply) -> Turn:
    """The caller's conference ended (the Dial's action): the call is over for Onshore when
    it was answered or the caller left; a conference that failed sends them home."""
    turn = Turn(call._replace(state=reservation.state))
    if not isinstance(reply, BridgeEnded):
        turn.actions.append(End())
        return turn
    read = reply.meaning()
    site = facts.centers.get(reservation.site)
    turn.note(
        "bridge_ended",
        status=reply.status,
        outcome=read,
        center=reservation.site,
        domestic=str(site is not None and site.country == facts.home).lower(),
        reservation=reservation.reservation,
    )
    if read == "failed":
        return bridges.transfer(flow, turn, facts, "")
    turn.actions.append(End())
    return turn


# --- a shared named queue, at dequeue ----------------------------------------------------

DEQUEUE_PATH = "/voice/dequeue"
# Said at a dequeue by an agent of a site Onshore cannot place: nothing true can be said of
# where they are, and the <Queue url> document cannot listen for the transfer key.
UNPLACED: Mapping[str, str] = {
    "en": "We could not confirm where the agent taking your call is located. "
    "You may ask them to transfer you to an agent in {home_country}.",
    "es": "No pudimos confirmar dónde se encuentra el agente que atiende su llamada. "
    "Puede pedirle que lo transfiera a un agente en {home_country}.",
}


@dataclass(frozen=True)
class Queued:
    """What the record says of a call waiting in a queue: its flow version, the language it
    speaks (its code; "" the flow's first), the center whose queue it waits in."""

    flow: str
    version: int
    language: str
    center: str


def queued(entries: Iterable[list[str] | None]) -> Queued | None:
    """A queued call from its record's entries (``Store.call_entries``); None without a
    ``received`` of a flow version and a ``bridged``."""
    flow, version, language, center = "", 0, "", ""
    for entry in entries:
        if entry is None:
            continue
        fields = dict(zip(entry[0::2], entry[1::2], strict=False))
        step = fields.get("step")
        if step == "received" and fields.get("version", "").isdigit():
            flow, version = fields.get("flow", ""), int(fields["version"])
        elif step == "language":
            language = fields.get("language", "")
        elif step == "bridged":
            center = fields.get("center", "")
    return Queued(flow, version, language, center) if flow and version and center else None


def at_dequeue(flow: Flow, call: Queued, site_id: str, agent_leg: str, facts: Facts) -> Turn:
    """What the caller hears, just before the bridge, of the agent who dequeued them: the
    site's city and country (Say only: Twilio allows Play, Say, Pause and Redirect there,
    https://www.twilio.com/docs/voice/twiml/queue), nothing for a domestic site."""
    lang = flow.speaking(call.language)
    turn = Turn(Call(flow.id, flow.version, "@dequeue", center=call.center, language=call.language))
    shared = facts.centers.get(call.center)
    site = facts.centers.get(site_id) if SITE.match(site_id) else None
    if shared is None or site is None or (shared.target.sites and site_id not in shared.target.sites):
        turn.note(
            "dequeue_refused",
            agent_leg,
            reason="unknown agent site",
            site=site_id if SITE.match(site_id) else "unknown",
            center=call.center,
            leg=agent_leg,
        )
        text = wording.fill(UNPLACED.get(lang.code, UNPLACED["en"]), flow, facts, None, lang.code)
        turn.actions.append(Speak(text, lang.tag, lang.voice))
        return turn
    offshore = site.country != facts.home
    fields = {
        "center": call.center,
        "site": site.id,
        "city": site.city,
        "country": site.country,
        "region": site.region,
    }
    state = disclosure_state(flow, "")
    if offshore and state is not None:  # said before the bridge: recorded before it
        line = wording.fill(state.text, flow, facts, site, lang.code)
        turn.note(
            "disclosed", agent_leg, **fields, text=line, language=lang.tag, prompt="alone", bind="dequeue"
        )
        turn.actions.append(Speak(line, lang.tag, lang.voice))
    turn.note("dequeued", agent_leg, **fields, domestic=str(not offshore).lower(), leg=agent_leg)
    return turn
