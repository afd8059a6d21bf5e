"""What Onshore keeps in Redis about a caller waiting at a TaskRouter reservation (the edge).

Once TaskRouter's ``redirect`` took the caller's call out of its ``<Enqueue>``, TaskRouter no
longer sees the call: a caller who hangs up while Onshore holds them for the reserved worker
leaves a Task that TaskRouter would go on offering to workers, ringing each for nobody. So:

- ``hold``: the caller's leg reached a reservation; the Task (workspace, task, reservation)
  is kept under the call until Onshore lets go of it (``release``: the reservation accepted,
  or the Task canceled);
- ``take``: the call's status callback says it ended; the Task still held (if any) is handed
  over once (GETDEL: a replayed status callback finds nothing) for the edge to cancel;
- ``claim_dial``: the reservation's ``call`` instruction is asked for once per
  ReservationSid (SET NX), whatever replays of the consent webhook come (Twilio's retries,
  or a request replayed within its signature's validity); ``dialed`` records how that one
  request went, so a replay answers as the first did.

Each is one round trip with the store's short timeouts; a failure raises ``RedisError`` or
``OSError``, and the caller's leg carries on without it (see ``ivr.bind_routes``).
"""

from __future__ import annotations

from typing import Any

from ivr import keys
from ivr.bind import Reservation

TTL = 26 * 3600  # as the call's own keys (ivr.store.CALL_TTL)
DIALING = "dialing"  # the claim, before the call instruction's answer


def hold(client: Any, call_sid: str, r: Reservation) -> None:
    """The caller waits on this reservation's Task."""
    client.set(keys.call_task(call_sid), f"{r.workspace} {r.task} {r.reservation}", ex=TTL)


def release(client: Any, call_sid: str) -> None:
    """Onshore let go of the call's Task (accepted or canceled): nothing left to cancel."""
    client.delete(keys.call_task(call_sid))


def take(client: Any, call_sid: str) -> tuple[str, str, str] | None:
    """(workspace, task, reservation) still held for an ended call, once; else None."""
    raw = client.getdel(keys.call_task(call_sid))
    parts = raw.decode().split() if raw else []
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def claim_dial(client: Any, call_sid: str, reservation: str) -> str | None:
    """None when this request won the reservation's call instruction; else what the first
    request recorded: ``DIALING`` (on its way), "" (done) or why it failed."""
    name = keys.call_dial(call_sid, reservation)
    if client.set(name, DIALING, nx=True, ex=TTL):
        return None
    raw = client.get(name)
    return raw.decode() if raw is not None else DIALING


def dialed(client: Any, call_sid: str, reservation: str, failed: str) -> None:
    """How the claimed call instruction went ("" done, else why not)."""
    client.set(keys.call_dial(call_sid, reservation), failed, ex=TTL)
