"""What a center learns about the caller when a call is bridged to it. Pure.

Lawmakers' case against offshore call centers includes weaker protection of customer data.
What of the caller leaves the country depends on how the center is reached:

- a ``<Dial>`` (``number``, ``sip``) shows the caller's own number as caller ID unless
  ``callerId`` is set (https://www.twilio.com/docs/voice/twiml/dial#callerid); a center
  with ``caller_id = "called"`` is shown the Twilio number the caller dialed instead, so its
  agents never see the caller's number (Onshore sets ``callerId``, as it already does for
  a withheld one: ``ivr.caller_ids``);
- an ``<Enqueue>`` into a named queue: the agent dequeues the caller's call, whose From is
  the caller's number; a TaskRouter workflow: TaskRouter adds ``from``, ``to`` and
  ``call_sid`` to the Task's attributes (``ivr.twiml``). Neither can be masked by
  ``callerId``: ``ivr check`` refuses ``caller_id = "called"`` there.

Onshore's own attributes on the Task (``ivr.bridges``, ``ivr.bind``) name the center, its
country, the call's language and whether it is domestic: never the caller. ``ivr check``
prints, per center abroad, what it receives; each bridge's ``bridged`` event records the
data class passed (``shares``).
"""

from __future__ import annotations

from ivr.flow import Center

CALLER_IDS = ("caller", "called")  # what a <Dial> to the center shows: the caller's, the dialed
MASKABLE = ("number", "sip")  # targets whose caller ID Onshore sets


def masked(center: Center) -> bool:
    """True when a bridge to this center shows the number dialed, not the caller's."""
    return center.caller_id == "called" and center.target.kind in MASKABLE


def shares(center: Center) -> str:
    """The data class a bridge to this center passes about the caller: "called-number" (the
    caller's number withheld from it) or "caller-number"."""
    return "called-number" if masked(center) else "caller-number"


def received_by(center: Center) -> str:
    """What the center receives about the caller, in words (``ivr check`` prints it)."""
    kind = center.target.kind
    if masked(center):
        return "the number the caller dialed as caller ID (caller_id = 'called'), the caller's language"
    if kind in MASKABLE:
        return "the caller's own number as caller ID (a <Dial> passes it), the caller's language"
    if kind == "workflow":
        return (
            "the caller's number (TaskRouter adds from, to and call_sid to the Task), the caller's language"
        )
    return "the caller's number (the dequeued call's From), the caller's language"
