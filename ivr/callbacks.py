"""Callbacks from a domestic agent: the rules, with no I/O (``callback_store`` keeps them in
Redis, ``callback_worker`` places the calls).

Theory of operation. A caller who asked for an agent in the home country when the domestic
destination could not take the call now (closed, full, or a wait too long) may ask to be
called back. The request takes a place in the destination's *line*: one ordered set per
domestic destination, scored by the moment the caller asked, that also holds the live
callers on hold for that destination. A callback is *due* when the destination is open, it
is not waiting out the spacing after an unanswered attempt, and fewer than ``lines``
entries that asked before it still stand ahead of it (a live caller still on hold, or a
callback due or being placed): so no callback jumps ahead of a caller who asked earlier,
and none falls behind a caller who asked later. Its place is its request time; a retry keeps
it.

States of one callback (``Callback.state``)::

    pending --claim--> dialing --the person presses 1--> connecting --bridge ends--> done
       ^                  |  no answer, busy, failed, nobody pressed 1 (a voicemail),
       |                  |  or the bridge failed
       +----- retry ------+  (attempts left: pending again after ``spacing`` seconds)
                          +-- attempts used up, or Twilio refused the request (4xx) --> failed
    pending or dialing --the caller cancels, or an operator--> cancelled

A claim is atomic in Redis (one worker moves ``pending`` with this attempt number to
``dialing``): two workers given the same callback never both dial. A worker killed after its
claim leaves the callback ``dialing``: the sweep gives it back (``pending``, same attempt) when
no sign of a call came within ``CLAIM_LEASE`` seconds (no CallSid written, no status callback
from Twilio), and waits for Twilio's final status callback when a call was placed. REST errors
worth repeating (5xx, 429, timeouts) are retried after ``REST_BACKOFF`` seconds, then the
callback is closed with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

import phonenumbers

from ivr.hours import Schedule

State = Literal["pending", "dialing", "connecting", "done", "failed", "cancelled"]
OPEN_STATES: tuple[State, ...] = ("pending", "dialing", "connecting")
CLOSED_STATES: tuple[State, ...] = ("done", "failed", "cancelled")
CLAIM_LEASE = 60.0  # seconds after a claim with no sign of a call: the claimer is presumed dead
REST_BACKOFF = (5.0, 30.0, 120.0)  # seconds before each repeat of a REST request that may succeed
ATTEMPTS, SPACING, RING_TIMEOUT, LINES = 3, 600, 30, 1  # a flow's defaults (``CallbackPolicy``)
HORIZON = timedelta(days=15)  # how far ahead an opening is looked for


@dataclass(frozen=True)
class CallbackPolicy:
    """A flow's callback settings: how many calls (``attempts``), how far apart (``spacing``
    seconds), how long each rings (``ring_timeout``), how many may be under way at once per
    destination (``lines``)."""

    attempts: int = ATTEMPTS
    spacing: int = SPACING
    ring_timeout: int = RING_TIMEOUT
    lines: int = LINES


@dataclass(frozen=True)
class Callback:
    """One callback request and where it stands. ``number`` is the E.164 number to call (kept
    only while the callback is open); ``caller`` its keyed hash, which the evidence holds."""

    id: str
    center: str  # the domestic destination
    call_sid: str  # the caller's own call, whose evidence the callback's steps join
    number: str
    caller: str
    called: str  # the company's number the caller dialed: the outbound call comes from it
    flow: str
    version: int
    language: str  # the tag the call spoke, "es-US"
    requested: float  # epoch seconds: the callback's place in the line
    state: State = "pending"
    attempt: int = 1
    not_before: float = 0.0  # epoch seconds: no call before this (the spacing after a miss)
    attempts: int = ATTEMPTS
    spacing: int = SPACING
    ring_timeout: int = RING_TIMEOUT
    claimed: float = 0.0  # when the current attempt was claimed
    worker: str = ""
    outbound: str = ""  # the current attempt's CallSid, once known
    reason: str = ""  # why it closed, or why the last attempt failed
    rest_errors: int = 0  # REST failures of the current attempt
    placed: float = 0.0  # when the person took the call (pressed the key)
    closed: float = 0.0
    voice: str = ""  # the call's voice

    @property
    def member(self) -> str:
        """Its entry in the line."""
        return f"cb:{self.id}"

    def to_fields(self) -> dict[str, str]:
        return {name: str(value) for name, value in self.__dict__.items()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Callback:
        numeric = {"version", "attempt", "attempts", "spacing", "ring_timeout", "rest_errors"}
        real = {"requested", "not_before", "claimed", "placed", "closed"}
        values: dict[str, object] = {"number": ""}  # a closed callback's number is deleted
        for name in cls.__dataclass_fields__:
            if name not in fields:
                continue
            raw = fields[name]
            values[name] = int(raw) if name in numeric else float(raw) if name in real else raw
        return cls(**values)  # type: ignore[arg-type]


Entry = tuple[str, float]  # (member, score): "live:CallSid" or "cb:ID", the time asked


def blocks(member: str, callbacks: dict[str, Callback], live: set[str], now: float) -> bool:
    """Whether a line entry ahead of a callback holds it back: a live caller still on hold
    (``live``: the CallSids whose hold lease is current), or a callback due or under way. A
    callback waiting out its spacing does not hold back those after it."""
    if member.startswith("live:"):
        return member[5:] in live
    callback = callbacks.get(member[3:])
    if callback is None or callback.state in CLOSED_STATES:
        return False
    return callback.state != "pending" or callback.not_before <= now


def due(
    line: list[Entry],
    callbacks: dict[str, Callback],
    live: set[str],
    now: float,
    is_open: bool,
    lines: int = LINES,
) -> list[Callback]:
    """The callbacks of one destination's line to place now, in line order."""
    if not is_open:
        return []
    out, ahead = [], 0
    for member, _ in sorted(line, key=lambda entry: (entry[1], entry[0])):
        if ahead >= lines:
            break
        callback = callbacks.get(member[3:]) if member.startswith("cb:") else None
        if callback is not None and callback.state == "pending" and callback.not_before <= now:
            out.append(callback)
        if blocks(member, callbacks, live, now):
            ahead += 1
    return out


def attempt_failed(callback: Callback, reason: str, now: float) -> Callback:
    """An attempt did not reach anyone who took the call: again after the spacing while
    attempts are left (same place in the line), else closed with the reason."""
    if callback.attempt < callback.attempts:
        return replace(
            callback,
            state="pending",
            attempt=callback.attempt + 1,
            not_before=now + callback.spacing,
            reason=reason,
            worker="",
            outbound="",
            claimed=0.0,
            rest_errors=0,
        )
    return close(callback, "failed", f"{reason} ({callback.attempts} attempts)", now)


def rest_failed(
    callback: Callback, reason: str, retryable: bool, now: float, backoff: tuple[float, ...] = REST_BACKOFF
) -> Callback:
    """Twilio's REST API failed to place the current attempt: the same attempt again after the
    backoff when it may succeed, else the callback is closed (a 4xx means the request is wrong)."""
    if retryable and callback.rest_errors < len(backoff):
        return replace(
            callback,
            state="pending",
            not_before=now + backoff[callback.rest_errors],
            rest_errors=callback.rest_errors + 1,
            reason=reason,
            worker="",
            claimed=0.0,
        )
    return close(callback, "failed", reason, now)


def close(callback: Callback, state: State, reason: str, now: float) -> Callback:
    return replace(callback, state=state, reason=reason, closed=now, worker="")


def abandoned(callback: Callback, now: float, lease: float = CLAIM_LEASE) -> bool:
    """A claim whose worker is presumed dead: no CallSid and no status callback came within
    the lease (Twilio posts "initiated" when it creates the call)."""
    return callback.state == "dialing" and not callback.outbound and now - callback.claimed > lease


def stale_call(callback: Callback, now: float) -> bool:
    """A placed call whose end Twilio never reported (its status callback lost): after the
    ring timeout and an hour's grace, the attempt is counted as not answered."""
    return (
        callback.state == "dialing"
        and bool(callback.outbound)
        and now - callback.claimed > (callback.ring_timeout + 3600)
    )


def next_opening(
    schedule: Schedule, now: datetime, step: timedelta = timedelta(minutes=1)
) -> datetime | None:
    """The first minute at or after ``now`` when the schedule is open (None within 15 days)."""
    at = now.replace(second=0, microsecond=0)
    if schedule.is_open(now):
        return now
    end = now + HORIZON
    while at <= end:
        at += step
        if schedule.is_open(at):
            return at
    return None


Problem = Literal["", "not-e164", "invalid", "abroad", "premium-rate", "not-callable"]


def number_problem(number: str, home: str) -> Problem:
    """Why a number may not be called back ("" when it may): E.164, a valid number in the home
    country, never premium-rate (or shared-cost, or a pager or voicemail access number)."""
    if not number.startswith("+") or not number[1:].isdigit():
        return "not-e164"
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return "not-e164"
    if not phonenumbers.is_valid_number(parsed):
        return "invalid"
    if phonenumbers.region_code_for_number(parsed) != home:
        return "abroad"
    kind = phonenumbers.number_type(parsed)
    if kind in (phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST):
        return "premium-rate"
    if kind in (phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.VOICEMAIL):
        return "not-callable"
    return ""


def keyed_number(digits: str, home: str) -> str:
    """Digits a caller keyed as a number in the home country, as E.164 ("" if none)."""
    digits = "".join(c for c in digits if c.isdigit())
    if not digits:
        return ""
    try:
        parsed = phonenumbers.parse(digits, home)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
