"""Whether the caller's ID can be passed on when Onshore dials a number for them.

A ``<Dial>`` without ``callerId`` passes the caller's own ID to the number it calls. Carriers
send Twilio withheld or invalid IDs ("anonymous", "restricted", digits that are no number),
and the called network may refuse a call that carries one; Twilio then marks the bridge
failed (warning 13214, https://www.twilio.com/docs/api/errors/13214: "your application
should recognize invalid caller IDs, and substitute them with a valid Caller ID"). The
``callerId`` Twilio accepts is the calling number, the called number or a verified one
(https://www.twilio.com/docs/voice/twiml/dial#callerid), so Onshore substitutes the Twilio
number the caller dialed. The caller's number itself is never recorded: only the reason.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from ivr.table_fields import valid_e164
from ivr.vocabulary import Action, Connect, Event, Turn

# What carriers put in From for a caller who withholds their number (any case).
WITHHELD = frozenset({"anonymous", "restricted", "private", "unknown", "unavailable", "withheld", "blocked"})
_E164_FORM = re.compile(r"\+[1-9][0-9]{1,14}")


@lru_cache(maxsize=4096)  # callers repeat, and the phonenumbers check is the cost
def problem(caller: str) -> str:
    """Why this caller ID cannot be passed on ("" when it can): withheld, one of WITHHELD,
    not-e164 or invalid (the form of E.164, but no number in service anywhere)."""
    word = caller.strip()
    if not word:
        return "withheld"
    if word.lower() in WITHHELD:
        return word.lower()
    if not _E164_FORM.fullmatch(word):
        return "not-e164"
    return "" if valid_e164(word) else "invalid"


def substitute(turn: Turn, caller: str, called: str, hashed: str = "") -> Turn:
    """The turn with each bridge to a number showing the called number when the caller's ID
    cannot be passed on, and each bridge to a masked center (``caller_id = "called"``,
    ``ivr.caller_data``) too, with an event that says so; the turn itself when nothing changes.
    Checked only when the turn dials a number, so other webhooks pay nothing for it.
    ``hashed`` (the caller's keyed hash) goes with the bridge: the answering leg's From is
    then the number dialed, so its whisper could not otherwise say whose call it was."""
    connects = [a for a in turn.actions if isinstance(a, Connect)]
    dials = [a for a in connects if a.target.kind == "number"]
    reason = problem(caller) if dials and called else ""
    why: dict[int, str] = {}  # per bridge shown the number dialed: why
    for a in connects if called else ():
        if reason and a in dials:
            why[id(a)] = reason
        elif a.masked:  # the center is never shown the caller's number (ivr.caller_data)
            why[id(a)] = "masked"
    if not why:
        return turn
    actions: list[Action] = [
        replace(a, caller_id=called, caller=hashed) if isinstance(a, Connect) and id(a) in why else a
        for a in turn.actions
    ]
    events = turn.events + [
        Event(
            f"caller_id:{a.then.seq}:{a.then.state}",
            "caller_id",
            (("reason", why[id(a)]), ("shown", "called-number"), ("center", a.center)),
        )
        for a in connects
        if id(a) in why
    ]
    return Turn(turn.call, actions, events)
