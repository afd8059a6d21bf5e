"""Callbacks and the domestic lines in Redis: the only module that writes them.

Keys (all under the one prefix, built in ``ivr.keys``):

- ``onshore:domestic:CENTER:line``: the line of one domestic destination, a sorted set of
  ``live:CallSid`` (a caller on hold for it) and ``cb:ID`` (a callback), scored by the time
  the caller asked (epoch seconds);
- ``onshore:domestic:CENTER:hold:CallSid``: a live caller's lease, renewed by each hold
  request; a caller whose lease lapsed has left the line (bridged, or gone);
- ``onshore:callback:ID``: one callback's fields (``ivr.callbacks.Callback``); the number to
  call is deleted from it when it closes;
- ``onshore:callbacks:open``: the open callbacks, id scored by request time (what the
  dispatcher scans);
- ``onshore:callbacks:caller:HASH``: the open callback of a caller (by keyed hash), so a
  caller who calls again can keep or cancel it;
- ``onshore:callbacks:dispatching``: the dispatcher's lock (one at a time across workers).

Every change of a callback's state is a compare-and-set in a Lua script on (state, attempt):
a claim succeeds for one worker only, and a late status callback of an earlier attempt
changes nothing.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any

from ivr.callbacks import CLOSED_STATES, Callback, Entry, State
from ivr.keys import CALLBACKS_LOCK as LOCK
from ivr.keys import CALLBACKS_OPEN as OPEN
from ivr.keys import callback as callback_key
from ivr.keys import callback_caller as caller_key
from ivr.keys import domestic_hold as hold_key
from ivr.keys import domestic_line as line_key

# KEYS[1] the callback; ARGV[1] its attempt, ARGV[2] the states it may be in ("|"-joined),
# then field, value pairs. Returns 1 when it was changed, 0 when it was not in that state.
_SWAP = r"""
local state = redis.call('HGET', KEYS[1], 'state')
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if not state or attempt ~= ARGV[1] then return 0 end
local allowed = false
for s in string.gmatch(ARGV[2], '[^|]+') do if s == state then allowed = true end end
if not allowed then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def new_id() -> str:
    return secrets.token_hex(8)


class CallbackStore:
    """Callbacks and lines over one redis-py client (the worker's or a webhook's)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._swap = client.register_script(_SWAP)

    # -- the line ---------------------------------------------------------------------------
    def request(self, callback: Callback) -> int:
        """Record a new callback and its place in its destination's line, in one transaction
        (a replay of the same request keeps the first); its place in line (1: next)."""
        if self.client.exists(callback_key(callback.id)):
            return self._place(callback)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(callback_key(callback.id), mapping=callback.to_fields())
        pipe.zadd(line_key(callback.center), {callback.member: callback.requested}, nx=True)
        pipe.zadd(OPEN, {callback.id: callback.requested}, nx=True)
        pipe.set(caller_key(callback.caller), callback.id)
        pipe.execute()
        return self._place(callback)

    def _place(self, callback: Callback) -> int:
        rank = self.client.zrank(line_key(callback.center), callback.member)
        return int(rank) + 1 if rank is not None else 0

    def join(self, center: str, call_sid: str, asked: float, lease: float) -> None:
        """A live caller on hold for the destination since ``asked``: in the line, with a lease."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(line_key(center), {f"live:{call_sid}": asked}, nx=True)
        pipe.set(hold_key(center, call_sid), "1", px=int(lease * 1000))
        pipe.execute()

    def leave(self, center: str, call_sid: str) -> None:
        """A live caller left the line (bridged, gone, or out of the queue)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zrem(line_key(center), f"live:{call_sid}")
        pipe.delete(hold_key(center, call_sid))
        pipe.execute()

    def line(self, center: str) -> list[Entry]:
        return [
            (m.decode(), float(s)) for m, s in self.client.zrange(line_key(center), 0, -1, withscores=True)
        ]

    def live(self, center: str, line: list[Entry]) -> set[str]:
        """The CallSids of the line's live callers whose lease is current; the lapsed ones
        are taken out of the line."""
        sids = [m[5:] for m, _ in line if m.startswith("live:")]
        if not sids:
            return set()
        pipe = self.client.pipeline(transaction=False)
        for sid in sids:
            pipe.exists(hold_key(center, sid))
        held = {sid for sid, there in zip(sids, pipe.execute(), strict=True) if there}
        gone = [f"live:{sid}" for sid in sids if sid not in held]
        if gone:
            self.client.zrem(line_key(center), *gone)
        return held

    # -- callbacks --------------------------------------------------------------------------
    def load(self, callback_id: str) -> Callback | None:
        raw = self.client.hgetall(callback_key(callback_id))
        if not raw:
            return None
        return Callback.from_fields({k.decode(): v.decode() for k, v in raw.items()})

    def open_ids(self) -> list[str]:
        return [m.decode() for m in self.client.zrange(OPEN, 0, -1)]

    def of_caller(self, caller: str) -> Callback | None:
        """The caller's open callback, if any."""
        found = self.client.get(caller_key(caller))
        callback = self.load(found.decode()) if found else None
        return callback if callback is not None and callback.state not in CLOSED_STATES else None

    def swap(self, before: Callback, after: Callback, states: tuple[State, ...]) -> bool:
        """Write ``after`` if the callback is still at ``before``'s attempt and in one of
        ``states``; on a close, take it out of its line and drop the number."""
        changed = {k: v for k, v in after.to_fields().items() if before.to_fields().get(k) != v}
        args = [str(before.attempt), "|".join(states)] + [x for pair in changed.items() for x in pair]
        if not changed:
            args += ["state", after.state]
        if not self._swap(keys=[callback_key(before.id)], args=args):
            return False
        if after.state in CLOSED_STATES:
            self._closed(after)
        return True

    def claim(self, callback: Callback, worker: str, now: float) -> Callback | None:
        """Take a pending callback's current attempt for this worker; None when another has it
        (or it moved on)."""
        claimed = replace(callback, state="dialing", worker=worker, claimed=now)
        return claimed if self.swap(callback, claimed, ("pending",)) else None

    def _closed(self, callback: Callback) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(line_key(callback.center), callback.member)
        pipe.zrem(OPEN, callback.id)
        pipe.hdel(callback_key(callback.id), "number")
        pipe.execute()
        # the caller's pointer goes only if it still points at this callback
        if (self.client.get(caller_key(callback.caller)) or b"").decode() == callback.id:
            self.client.delete(caller_key(callback.caller))

    def locked(self, holder: str, seconds: float) -> bool:
        """Take (or keep) the dispatcher's lock for ``seconds``."""
        if self.client.set(LOCK, holder, nx=True, px=int(seconds * 1000)):
            return True
        if (self.client.get(LOCK) or b"").decode() == holder:
            self.client.pexpire(LOCK, int(seconds * 1000))
            return True
        return False


def now() -> float:
    return time.time()
