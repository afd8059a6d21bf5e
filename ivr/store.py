"""Redis: the only module that talks to it.

Layout (every key starts with the prefix, built by ``key``):

    numbers            hash  E.164 -> number JSON
    centers            hash  center id -> center JSON
    flows              hash  flow id -> "version:digest" of the live version
    flows:reach        hash  flow id -> the centers its live version can reach, one a line
    flow:ID:VERSION    string  flow JSON, immutable once written
    flow:ID:seq        counter of versions
    events             stream  per-call evidence, one entry per (CallSid, step), never trimmed
    chain:head         string  hash of the last entry appended (the chain's end)
    audit:exported     stream  exported ranges (first id, last id, entries, sha256 of the file)
    audit:pruned       hash  last id, hash and count pruned, where verification resumes
    audit:anchors      stream  high-water marks (count, last id, hash), the auditor's only
    call:SID:steps     set  steps already recorded for a call (idempotency), expires
    call:SID:entries   list  ids of the call's entries in the events stream, expires
    flow:ID:versions   sorted set  every published version of a flow
    policy             string  the live version of the folder's [policy]; absent: none
    policy:VERSION     string  a published [policy] JSON, immutable once written
    policy:seq         counter of policy versions
    config:log         stream  every configuration change: publish or rollback, who, when
    config:fallback    hash  the last `ivr fallback build --redis-url`: digest, by, when
    queue:ID:waits     sorted set  "CallSid:seconds" waited in center ID's queue before an
                       agent answered, scored by when the bridge ended; the newest RECENT

Theory of operation: optimistic reads. A webhook decides on what this process last read of
its scope (``ivr.config_view``: the number called, its flow's live version and the centers
that flow can reach; for a later step, the centers of the call's flow version), a ``View``
named by a digest of exactly those objects, then makes one round trip: a script that reads
only those objects, recomputes the digest inside Redis and, only if it still matches,
appends the webhook's events. If any of them changed, the script writes nothing and
returns just them; the webhook decides again (a second round trip). So while
Redis answers, every answer was decided on what Redis held at the moment its evidence was
written, and a steady webhook costs one round trip. Every call has a sub-second timeout
and no retries; when Redis cannot answer, the caller gets the flow's safe answer built
from the last view this process read (``fallback``). After a failure the webhooks' round
trips go through a circuit breaker (``ivr.breaker``): Redis is skipped, and callers are
answered from that view at once, until one probe finds it answering again.
"""

from __future__ import annotations

import gc
import getpass
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as ConnectionLost
from redis.exceptions import NoScriptError, RedisError, ResponseError, WatchError
from redis.retry import Retry

from ivr.anchors import Anchor
from ivr.breaker import Breaker, State
from ivr.config_view import EMPTY, Memory, Scope, View, Views
from ivr.errors import CircuitOpen, RemovalRefused, StoreUnavailable, Unconfirmed
from ivr.estimate import RECENT
from ivr.evidence import unpack
from ivr.flow import Center, Config, Flow, Policy
from ivr.flowfile import Problems, Sources, parse_flow, parse_policy

__all__ = ["EMPTY", "Scope", "Store", "View", "connect", "key"]

log = logging.getLogger(__name__)

T = TypeVar("T")
PREFIX = "onshore:"
# A call's own keys (its step set and entry ids) live as long as it can still send webhooks:
# Twilio ends every call at its time limit, at most 24 hours
# (https://www.twilio.com/docs/voice/twiml/dial#timelimit,
# https://www.twilio.com/docs/api/errors/86006), plus two hours for the status callback
# and a spool replayed after a short outage. The stream keeps the evidence itself.
CALL_TTL = 26 * 3600
TIMEOUT = 0.25  # seconds; two round trips stay far inside Twilio's budget and our 1 s goal

# KEYS: events, the call's step set, numbers, flows, centers, chain head, the call's entries,
# flows' reach.
# ARGV: the call's keys' ttl, expected digest ("*": do not check), number called ("" for later
# steps), deadline (ms on Redis's clock; 0: none), the centers a later step's flow version can
# reach (one a line; its version is immutable, so the worker names them), then per event its
# step key and the sealed event (a JSON array [name, value, ...]).
# The scope's digest covers the number's JSON, its flow's live "version:digest" and each
# center reached (id and JSON, "" when absent); a flow whose reach was never published (a
# version from before reach existed) is checked against every center, as it used to be.
# Returns {1, events added, now}; when the digest differs, {0, digest, number, flow id, live
# version, centers reached as [id, JSON, ...], now} and writes nothing; past the deadline,
# {2, now} and writes nothing: the webhook has already answered from memory and spooled that
# answer's events. Each entry appended is the sealed event, then prev and hash, the chain links.
_COMMIT = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[4]) > 0 and now > tonumber(ARGV[4]) then return {2, now} end
if ARGV[2] ~= '*' then
  local number, flow, live, reach = '', '', '', ARGV[5]
  if ARGV[3] ~= '' then
    number = redis.call('HGET', KEYS[3], ARGV[3]) or ''
    local ok, doc = pcall(cjson.decode, number)
    reach = ''
    if ok and type(doc) == 'table' and type(doc['flow']) == 'string' then
      flow = doc['flow']
      live = redis.call('HGET', KEYS[4], flow) or ''
      reach = redis.call('HGET', KEYS[8], flow) or '*'
    end
  end
  local ids, found, parts = {}, {}, {}
  if reach == '*' then
    ids = redis.call('HKEYS', KEYS[5])
    table.sort(ids)
  else
    for id in string.gmatch(reach, '[^\n]+') do ids[#ids + 1] = id end
  end
  if #ids > 0 then
    local docs = redis.call('HMGET', KEYS[5], unpack(ids))
    for i, id in ipairs(ids) do
      local doc = docs[i] or ''
      found[#found + 1] = id
      found[#found + 1] = doc
      parts[i] = id .. '\n' .. doc
    end
  end
  local digest = redis.sha1hex(ARGV[3] .. '\0' .. number .. '\0' .. flow .. '\0' .. live ..
                               '\0' .. table.concat(parts, '\0'))
  if ARGV[2] ~= digest then return {0, digest, number, flow, live, found, now} end
end
local added = 0
local ids = {}
local head = redis.call('GET', KEYS[6]) or ''
for i = 6, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    local hash = redis.sha1hex(head .. '\n' .. ARGV[i + 1])
    added = added + 1
    ids[added] = redis.call('XADD', KEYS[1], '*', 'event', ARGV[i + 1], 'prev', head, 'hash', hash)
    head = hash
  end
end
if added > 0 then
  redis.call('SET', KEYS[6], head)
  redis.call('RPUSH', KEYS[7], unpack(ids))
  redis.call('EXPIRE', KEYS[7], ARGV[1])
end
if #ARGV >= 6 then redis.call('EXPIRE', KEYS[2], ARGV[1]) end
return {1, added, now}
"""


def key(*parts: str) -> str:
    """The Redis key for these parts, with the one prefix."""
    return PREFIX + ":".join(parts)


# The keys every webhook or publish names; a call's and a flow version's are built with key().
_EVENTS, _NUMBERS, _FLOWS, _CENTERS, _HEAD, _REACH = (
    key("events"),
    key("numbers"),
    key("flows"),
    key("centers"),
    key("chain", "head"),
    key("flows", "reach"),
)
_PRUNED, _ANCHORS = key("audit", "pruned"), key("audit", "anchors")
_POLICY = key("policy")


class _Unanswered(RedisError):
    """The command was sent whole and no reply came: Redis may have run it."""


def _round_trip(conn: Any, command: tuple[Any, ...]) -> Any:
    """Send one command and read its reply; a connection that failed is closed (the next
    command connects afresh). An error reply leaves it open: Redis answered in step. A
    failure while sending means Redis never had the whole command (it runs none in part);
    one while waiting for the reply is _Unanswered."""
    try:
        conn.send_command(*command)  # connects when not connected
    except BaseException:
        conn.disconnect()
        raise
    try:
        return conn.read_response()
    except ResponseError:
        raise
    except Exception as exc:
        conn.disconnect()
        raise _Unanswered(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        conn.disconnect()
        raise


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a batch of entries is built: it would traverse
    the growing record again and again (tens of lists per entry, none of them cyclic), which
    made reading a month of evidence take three to four times as long."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _unpacked(entry: Mapping[bytes, bytes]) -> list[str]:
    """An entry as redis-py's client returns it, as ``evidence.unpack`` gives it."""
    return unpack([x.decode() for pair in entry.items() for x in pair])


def connect(url: str, timeout: float = TIMEOUT) -> redis.Redis:
    """A client that fails fast: sub-second timeouts, no retries (redis-py's Retry object
    decides how often a command that failed on a connection or timeout error is sent again;
    zero retries: never; https://redis.readthedocs.io/en/latest/retry.html)."""
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class Store:
    """Reads configuration and records evidence, within the time budget."""

    def __init__(
        self, client: redis.Redis, answer_within: float = 0.0, breaker: Breaker | None = None
    ) -> None:
        self.client: Any = client  # redis-py's annotations cover sync and async; we are sync
        # The webhooks' store has one; tools (ivr load, audit) wait for Redis instead.
        self.breaker = breaker
        # A write Redis runs later than this after it was sent (it was hung, then resumed)
        # is refused: by then the caller was answered from memory. 0: no deadline (tools).
        self.answer_within = answer_within
        self._clock_offset: float | None = None  # Redis's clock minus ours, a lower bound
        self._offset_samples = 0
        self._bulk: Any = None  # the bulk reader, made on first use
        self.memory = Memory()
        self.views = Views()
        self._scan_cursor = 0  # the fallback pass (read_for_fallback) so far
        self._scanned: dict[str, bytes] = {}
        self._flows: dict[tuple[str, int], Flow] = {}
        self._flow_digests: dict[tuple[str, int], str] = {}
        self._commit = client.register_script(_COMMIT)
        self._lines = threading.local()  # each thread's own connection for commits

    # -- reading ---------------------------------------------------------------

    def view(self, scope: Scope) -> View:
        """The last view read for this scope; EMPTY if none yet."""
        return self.views.get(scope)

    def fallback(self, to: str) -> View:
        """What to decide on when Redis cannot answer: the newest view this process read."""
        latest, raw = self.memory.latest, self.memory.raw_numbers.get(to)
        number = (self.views.number(to, raw) if raw else None) or self.memory.numbers.get(to)
        return View("", number, latest.versions, latest.centers)

    def read_for_fallback(self, count: int = 2_000) -> bool:
        """One step of the background pass that reads every number (kept raw, parsed only
        when Redis is down and a webhook needs one) and, at its end, every live flow and
        center, so that a number this process never answered still gets its own flow's safe
        answer; True when a pass ended. Never on a caller's time (``ivr.chores``)."""
        cursor, rows = self._through_breaker(
            lambda: self.client.hscan(_NUMBERS, self._scan_cursor, count=count)
        )
        found = {e164.decode(): raw for e164, raw in rows.items()}
        self.memory.raw_numbers.update(found)
        if not self._scan_cursor:  # a new pass
            self._scanned = {}
        self._scanned.update(found)
        self._scan_cursor = int(cursor)
        if self._scan_cursor:
            return False
        self.memory.raw_numbers = self._scanned  # a number no longer published is forgotten
        flows_raw, centers_raw = self._through_breaker(
            lambda: (self.client.hgetall(_FLOWS), self.client.hgetall(_CENTERS))
        )
        versions = {f.decode(): _live(v.decode())[0] for f, v in flows_raw.items()}
        self.memory.latest = View(
            "",
            None,
            {**self.memory.latest.versions, **versions},
            {**self.memory.latest.centers, **self.views.centers(centers_raw)},
        )
        self._prefetch(versions)
        return True

    def commit(
        self, call_sid: str, scope: Scope, expected: str, sealed: Iterable[tuple[str, str]]
    ) -> View | None:
        """Append the sealed events (step key, body) if the scope's objects are still
        ``expected`` ("*": whatever they are): None when written, else the scope's current
        view (nothing written). Raises StoreUnavailable."""
        if self.answer_within and self._clock_offset is None:
            self._read_clock()  # once per process: never send a write without a deadline
        sent = time.time()
        deadline = 0
        if self.answer_within and self._clock_offset is not None:
            deadline = int((sent + self._clock_offset + self.answer_within) * 1000)
        argv: list[Any] = [CALL_TTL, expected, scope.number, deadline, self._step_reach(scope)]
        for step_key, body in sealed:
            argv += [step_key, body]
        call = key("call", call_sid or "-")
        keys = [_EVENTS, f"{call}:steps", _NUMBERS, _FLOWS, _CENTERS, _HEAD, f"{call}:entries", _REACH]

        def run() -> Any:
            try:
                return self._on_line("EVALSHA", self._commit.sha, len(keys), *keys, *argv)
            except NoScriptError:  # Redis restarted empty: load the script once, then again
                self._on_line("SCRIPT", "LOAD", _COMMIT)
                return self._on_line("EVALSHA", self._commit.sha, len(keys), *keys, *argv)

        reply = self._through_breaker(run)
        self._learn_clock(int(reply[-1]) / 1000 - time.time())
        if reply[0] == 2:
            raise StoreUnavailable("Redis ran the write after the answer's deadline; nothing written")
        if reply[0] == 1:
            return None
        _, digest, number_raw, flow_id, live, centers_flat, _ = reply
        versions = {}
        if flow_id:
            version, content = _live(live.decode()) if live else (0, "")
            if live:
                versions[flow_id.decode()] = version
                self._forget_if_changed(flow_id.decode(), version, content)
        number = None
        if scope.number:
            self.memory.raw_numbers[scope.number] = number_raw
        if number_raw:
            number = self.views.number(scope.number, number_raw) or self.memory.numbers.get(scope.number)
        view, named = self.views.learn(scope, digest.decode(), number, versions, centers_flat)
        # merged into what a number this process answered before falls back on
        self.memory.learn(view, named)
        self._prefetch(versions)
        return view

    def _step_reach(self, scope: Scope) -> str:
        """The centers a later step's flow version can reach, one a line ("" for a first
        webhook: Redis knows its number's flow)."""
        if scope.number or not scope.flow:
            return ""
        flow = self._flows.get((scope.flow, scope.version))
        if flow is None:
            try:
                flow = self.flow(scope.flow, scope.version)
            except StoreUnavailable:
                flow = None
        return "\n".join(flow.reach) if flow else ""

    def _through_breaker(self, call: Callable[[], T]) -> T:
        """Round trips to Redis, unless the breaker says it failed a moment ago (then
        CircuitOpen, at once). Raises StoreUnavailable when Redis fails now."""
        breaker = self.breaker
        if breaker is not None and not breaker.allow():
            raise CircuitOpen("Redis failed a moment ago; not tried")
        try:
            result = call()
        except (RedisError, OSError) as exc:
            if breaker is not None:
                breaker.failed(f"{type(exc).__name__}: {exc}")
            raise (Unconfirmed if isinstance(exc, _Unanswered) else StoreUnavailable)(str(exc)) from exc
        if breaker is not None:
            breaker.succeeded()
        return result

    def _on_line(self, *command: Any) -> Any:
        """One command on this thread's own connection. The webhook's single round trip
        skips what redis-py's client wraps around every command (pool check-out, health
        poll, retry wrapper, reply callbacks): about 80 µs of CPU per webhook here.
        A connection that failed is closed and made again on the next command; one that
        Redis closed while it lay idle (Redis restarted) is found out before sending, or,
        closed just then, by that command, which then goes once more on a new connection.
        Sending twice is safe: the evidence script is idempotent per step, and a timeout
        (Redis hung) is never sent again. A command sent whole with no reply coming is
        _Unanswered: Redis may have run it."""
        line = self._lines
        if getattr(line, "pid", None) != os.getpid():  # new thread, or a forked worker
            line.pid, line.conn = os.getpid(), self.client.connection_pool.make_connection()
        if line.conn.is_connected:
            try:  # one poll: Redis closed it while idle (restarted, killed), or stray bytes
                stale = line.conn.can_read(0)
            except (RedisError, OSError):
                stale = True
            if stale:  # so a write is not sent to a dead line, its fate then unknown
                line.conn.disconnect()
        was_open = line.conn.is_connected
        try:
            return _round_trip(line.conn, command)
        except (ConnectionLost, _Unanswered) as exc:
            lost = exc if isinstance(exc, ConnectionLost) else exc.__cause__
            if not was_open or not isinstance(lost, ConnectionLost):
                raise
            try:
                return _round_trip(line.conn, command)  # Redis closed it while idle: once more
            except (RedisError, OSError) as again:
                if isinstance(exc, _Unanswered):  # the first one may have run after all
                    raise _Unanswered(str(again)) from again
                raise

    def _prefetch(self, versions: Mapping[str, int]) -> None:
        """Read every live flow version this process lacks, in one round trip, so that a
        number it never answered still has its flow if Redis goes away."""
        missing = [(f, v) for f, v in versions.items() if (f, v) not in self._flows]
        if not missing:
            return
        docs = self._through_breaker(lambda: self.client.mget([key("flow", f, str(v)) for f, v in missing]))
        for (flow_id, version), raw in zip(missing, docs, strict=True):
            if raw:
                self._parse_flow(flow_id, version, raw)

    def _read_clock(self) -> None:
        seconds, micros = self._through_breaker(self.client.time)
        self._learn_clock(seconds + micros / 1e6 - time.time())

    def _learn_clock(self, sample: float) -> None:
        # Redis's time when it ran minus ours when its reply was in: never above the true
        # offset, so the deadline it gives Redis is never later than meant (a bound taken
        # on the sending side is too high by the round trip, and a slow one, taken at the
        # start or at a fresh start, let Redis take writes after the worker's timeout).
        # The largest recent sample is the best bound; start over now and then for drift.
        self._offset_samples += 1
        if self._clock_offset is None or self._offset_samples > 1000:
            self._clock_offset, self._offset_samples = sample, 1
        elif sample > self._clock_offset:
            self._clock_offset = sample

    def _forget_if_changed(self, flow_id: str, version: int, content: str) -> None:
        # Version numbers live in Redis: after a restore they can repeat with new content.
        if self._flow_digests.get((flow_id, version), content) != content:
            self._flows.pop((flow_id, version), None)
            self._flow_digests.pop((flow_id, version), None)

    def has_step(self, call_sid: str, step_key: str) -> bool:
        """True when this call's evidence holds this step; raises StoreUnavailable."""
        steps = key("call", call_sid, "steps")
        return bool(self._through_breaker(lambda: self._on_line("SISMEMBER", steps, step_key)))

    def record_wait(self, center: str, call_sid: str, seconds: int, at: float) -> None:
        """Remember how long a caller waited in a center's queue before an agent answered
        (idempotent per CallSid: a replay keeps the first); raises StoreUnavailable."""
        waits = key("queue", center, "waits")

        def run() -> None:  # one round trip; no MULTI: the trim is idempotent
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(waits, {f"{call_sid}:{seconds}": at}, nx=True)
            pipe.zremrangebyrank(waits, 0, -RECENT - 1)
            pipe.execute()

        self._through_breaker(run)

    def recent_waits(self, center: str) -> list[tuple[float, float]]:
        """(when, seconds) recent callers waited in a center's queue, newest first; raises
        StoreUnavailable."""
        waits = key("queue", center, "waits")
        flat = self._through_breaker(  # on the webhook's own line: one round trip
            lambda: self._on_line("ZREVRANGE", waits, 0, RECENT - 1, "WITHSCORES")
        )
        # RESP3 replies pair each member with its score; RESP2 gives them flat
        pairs = flat if flat and isinstance(flat[0], list) else zip(flat[::2], flat[1::2], strict=True)
        return [(float(at), float(member.rpartition(b":")[2])) for member, at in pairs]

    def append(self, call_sid: str, sealed: list[tuple[str, str]]) -> None:
        """Append sealed events whatever the configuration (replay); raises StoreUnavailable."""
        self.commit(call_sid, Scope(), "*", sealed)

    def flow(self, flow_id: str, version: int) -> Flow | None:
        """One published flow version; immutable, so cached for the life of the process.
        Raises StoreUnavailable when it must be read and Redis cannot answer."""
        cached = self._flows.get((flow_id, version))
        if cached is not None:
            return cached
        raw = self._through_breaker(lambda: self.client.get(key("flow", flow_id, str(version))))
        return self._parse_flow(flow_id, version, raw) if raw else None

    def remembered_flow(self, flow_id: str, version: int | None) -> Flow | None:
        """A flow version this process already knows (None: the newest), without Redis."""
        if version is not None:
            return self._flows.get((flow_id, version))
        known = sorted(v for (f, v) in self._flows if f == flow_id)
        return self._flows[(flow_id, known[-1])] if known else None

    def remember_flow(self, flow: Flow) -> None:
        """Keep a flow known from operator files (the seed for a cold start without Redis)."""
        self._flows.setdefault((flow.id, flow.version), flow)

    def _parse_flow(self, flow_id: str, version: int, raw: bytes) -> Flow | None:
        """A published flow; a broken one is refused and the last good version serves."""
        problems = Problems(f"redis flow {flow_id} v{version}")
        flow = None
        try:
            doc = json.loads(raw)
            flow = parse_flow(flow_id, doc["flow"], problems, version=version)
        except (ValueError, KeyError, TypeError) as exc:
            problems.add(f"flow '{flow_id}'", "", f"is not a published flow document: {exc}")
        for problem in problems.errors:
            log.log(logging.WARNING if problem.repaired else logging.ERROR, "published flow: %s", problem)
        if problems.fatal or flow is None:
            return self.remembered_flow(flow_id, None)
        self._flows[(flow_id, version)] = flow
        self._flow_digests[(flow_id, version)] = str(doc.get("digest", ""))[:16]
        return flow

    # -- the record ------------------------------------------------------------

    def entries(
        self, start: str = "-", end: str = "+", batch: int = 2_000
    ) -> Iterator[tuple[str, list[str]]]:
        """Entries of the events stream in order, as (id, [name, value, ...]) with the
        chain fields last (``evidence.unpack``). A batch at a time: 2,000 entries are about
        13 MiB as Python lists, so a reader's memory does not grow with the record."""
        return self._batches(start, end, batch, unpack)

    def stored(self, start: str = "-", end: str = "+", batch: int = 2_000) -> Iterator[tuple[str, list[str]]]:
        """``entries`` as Redis holds them (``event``, the sealed text, ``prev``, ``hash``;
        older entries their own fields): what the chain hash covers, byte for byte."""
        return self._batches(start, end, batch, list)

    def _batches(
        self, start: str, end: str, batch: int, shape: Callable[[list[str]], list[str]]
    ) -> Iterator[tuple[str, list[str]]]:
        reader = self._reader()
        cursor = start
        while True:
            with _collector_paused():
                rows = [
                    (i, shape(f))
                    for i, f in reader.execute_command("XRANGE", _EVENTS, cursor, end, "COUNT", batch)
                ]
            yield from rows
            if len(rows) < batch:
                return
            cursor = "(" + rows[-1][0]

    def _reader(self) -> Any:
        """A client for reading the record in bulk: the reply parser (hiredis, in C) decodes
        text and the entries stay the flat lists Redis sends; redis-py's per-entry dicts
        would make a month of evidence take several times longer to read."""
        if self._bulk is not None:
            return self._bulk
        pool = self.client.connection_pool
        kwargs = {**pool.connection_kwargs, "decode_responses": True}
        reader = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        reader.set_response_callback("XRANGE", lambda rows, **_: rows)
        self._bulk = reader
        return reader

    def call_entries(self, call_sid: str) -> list[tuple[str, list[str] | None]]:
        """One call's entries in order; None for an id whose entry is gone."""
        ids = [i.decode() for i in self.client.lrange(key("call", call_sid, "entries"), 0, -1)]
        return [(entry_id, self.entry(entry_id)) for entry_id in ids]

    def next_entry(self, entry_id: str) -> tuple[str, list[str]] | None:
        """The entry right after this one, if any."""
        rows = self.client.xrange(_EVENTS, min="(" + entry_id, max="+", count=1)
        if not rows:
            return None
        next_id, fields = rows[0]
        return next_id.decode(), _unpacked(fields)

    def entry(self, entry_id: str) -> list[str] | None:
        """One entry by id; None when it is not in the stream."""
        rows = self.client.xrange(_EVENTS, min=entry_id, max=entry_id)
        return _unpacked(rows[0][1]) if rows else None

    def high_water(self) -> tuple[int, str, str]:
        """(entries appended so far, pruned ones counted; the last one's id; its hash), read
        at one moment."""
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(_PRUNED).xlen(_EVENTS).xrevrange(_EVENTS, count=1)
        pruned, length, last = pipe.execute()
        if not last:
            return (
                int(pruned.get(b"count", 0)),
                pruned.get(b"id", b"").decode(),
                pruned.get(b"hash", b"").decode(),
            )
        return int(pruned.get(b"count", 0)) + length, last[0][0].decode(), _unpacked(last[0][1])[-1]

    def anchors(self) -> list[Anchor]:
        """Every anchor the auditor wrote, oldest first."""
        return [
            Anchor.of({k.decode(): v.decode() for k, v in f.items()}) for _, f in self.client.xrange(_ANCHORS)
        ]

    def add_anchor(self, anchor: Anchor) -> None:
        """Record a high-water mark (the auditor's credentials: the app's cannot)."""
        self.client.xadd(_ANCHORS, anchor.fields())

    def chain_head(self) -> str:
        """The hash of the last entry appended, as the script left it."""
        value = self.client.get(_HEAD)
        return value.decode() if value else ""

    def pruned(self) -> tuple[str, str, int]:
        """(last id, last hash, entries removed) of what retention removed; ("", "", 0) if
        nothing was."""
        found = self.client.hgetall(_PRUNED)
        return (found.get(b"id", b"").decode(), found.get(b"hash", b"").decode(), int(found.get(b"count", 0)))

    def mark_exported(self, first: str, last: str, count: int, sha256: str, path: str) -> None:
        """Remember that entries first..last were exported to a file with this digest."""
        self.client.xadd(
            key("audit", "exported"),
            {
                "first": first,
                "last": last,
                "count": str(count),
                "sha256": sha256,
                "path": path,
                "by": publisher(),
            },
        )

    def exported(self) -> list[tuple[str, str]]:
        """Exported ranges of entry ids, (first, last), oldest first."""
        rows = self.client.xrange(key("audit", "exported"))
        return [(f[b"first"].decode(), f[b"last"].decode()) for _, f in rows]

    def export_marks(self) -> dict[tuple[str, str], str]:
        """The SHA-256 of each exported file, by (first entry id, file name)."""
        rows = self.client.xrange(key("audit", "exported"))
        return {
            (f[b"first"].decode(), os.path.basename(f[b"path"].decode())): f[b"sha256"].decode()
            for _, f in rows
        }

    def prune(self, last_id: str, last_hash: str, calls: Iterable[str], removed: int) -> int:
        """Remove every entry up to and including last_id (``removed`` of them, counted in
        the marker so that anchors' counts still match); verification resumes after it."""
        pipe = self.client.pipeline(transaction=True)
        pipe.xtrim(_EVENTS, minid=_after(last_id), approximate=False)
        pipe.hset(_PRUNED, mapping={"id": last_id, "hash": last_hash})
        pipe.hincrby(_PRUNED, "count", removed)
        for call_sid in calls:
            pipe.delete(key("call", call_sid, "entries"))
        return int(pipe.execute()[0])

    def ping(self) -> bool:
        """True when Redis answers now."""
        try:
            return bool(self.client.ping())
        except (RedisError, OSError):
            return False

    # -- publishing --------------------------------------------------------------

    def publish(
        self, sources: Sources, by: str, message: str = "", allow_removal: Iterable[str] = ()
    ) -> dict[str, int]:
        """Publish centers, numbers and flows atomically; return each flow's live version.

        A flow whose content did not change keeps its version; a changed one gets the next
        number. Calls in progress keep reading the version in their URLs. A live number or
        center the sources lack is removed only when ``allow_removal`` names it: a truncated
        folder must not take numbers offline (raises RemovalRefused, nothing written).
        """
        allowed = set(allow_removal)

        def change(pipe: Any) -> dict[str, int]:
            dropped = [
                sorted(
                    k.decode()
                    for k in pipe.hkeys(name)
                    if k.decode() not in kept and k.decode() not in allowed
                )
                for name, kept in ((_NUMBERS, sources.numbers), (_CENTERS, sources.centers))
            ]
            if any(dropped):
                raise RemovalRefused(*dropped)
            found: dict[bytes, bytes] = pipe.hgetall(_FLOWS)
            current = {k.decode(): _live(v.decode())[0] for k, v in found.items()}
            live: dict[str, int] = {}
            docs: dict[str, str] = {}
            digests: dict[str, str] = {}
            for flow_id, (_, raw) in sorted(sources.flows.items()):
                digest = digests[flow_id] = _digest(raw)
                version = current.get(flow_id)
                if version is not None:
                    old = pipe.get(key("flow", flow_id, str(version)))
                    if old and json.loads(old).get("digest") == digest:
                        live[flow_id] = version
                        continue
                new_version = int(pipe.incr(key("flow", flow_id, "seq")))
                if version is not None and new_version <= version:
                    new_version = version + 1
                    pipe.set(key("flow", flow_id, "seq"), new_version)
                live[flow_id] = new_version
                docs[flow_id] = json.dumps(
                    {
                        "flow": raw,
                        "digest": digest,
                        "by": by,
                        "message": message,
                        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                    sort_keys=True,
                )
            policy = _policy_version(pipe, sources, by, message)
            pipe.multi()
            if policy is None:
                pipe.delete(_POLICY)
            else:
                version, doc = policy
                if doc:
                    pipe.set(key("policy", str(version)), doc)
                pipe.set(_POLICY, version)
            for flow_id, doc in docs.items():
                pipe.set(key("flow", flow_id, str(live[flow_id])), doc)
                pipe.zadd(key("flow", flow_id, "versions"), {str(live[flow_id]): live[flow_id]})
            pipe.delete(_CENTERS, _NUMBERS, _FLOWS, _REACH)
            if sources.centers:
                pipe.hset(
                    _CENTERS,
                    mapping={c: json.dumps(raw, sort_keys=True) for c, (_, raw) in sources.centers.items()},
                )
            if sources.numbers:
                pipe.hset(
                    _NUMBERS,
                    mapping={n: json.dumps(raw, sort_keys=True) for n, (_, raw) in sources.numbers.items()},
                )
            if live:
                pipe.hset(_FLOWS, mapping={f: f"{v}:{digests[f][:16]}" for f, v in live.items()})
                reach = {f: r for f, (_, raw) in sources.flows.items() if (r := _reach(f, raw)) is not None}
                if reach:
                    pipe.hset(_REACH, mapping=reach)
            pipe.xadd(
                key("config", "log"),
                {
                    "action": "publish",
                    "by": by,
                    "message": message,
                    "flows": json.dumps(live, sort_keys=True),
                    "was": json.dumps(current, sort_keys=True),
                    "centers": str(len(sources.centers)),
                    "numbers": str(len(sources.numbers)),
                    "policy": str(policy[0]) if policy else "",
                },
            )
            pipe.execute()
            return live

        return self._watching_flows(change, "publish")

    # -- versions ---------------------------------------------------------------

    def live_version(self, flow_id: str) -> int | None:
        """The version new calls of a flow get."""
        value = self.client.hget(_FLOWS, flow_id)
        return _live(value.decode())[0] if value else None

    def versions(self, flow_id: str) -> list[dict[str, Any]]:
        """Every published version of a flow, oldest first, with who published it and when."""
        numbers = [int(v) for v in self.client.zrange(key("flow", flow_id, "versions"), 0, -1)]
        if not numbers:
            return []
        docs = self.client.mget([key("flow", flow_id, str(v)) for v in numbers])
        live = self.live_version(flow_id)
        out = []
        for version, raw in zip(numbers, docs, strict=True):
            doc = json.loads(raw) if raw else {}
            out.append(
                {
                    "version": version,
                    "live": version == live,
                    **{k: doc.get(k, "") for k in ("published_at", "by", "message", "digest")},
                }
            )
        return out

    def flow_doc(self, flow_id: str, version: int) -> dict[str, Any] | None:
        """A published version as stored: the operator's table and its metadata."""
        raw = self.client.get(key("flow", flow_id, str(version)))
        return json.loads(raw) if raw else None

    def centers(self) -> dict[str, Center]:
        """The centers as published now."""
        return self.views.centers(self.client.hgetall(_CENTERS))

    def policy(self) -> Policy | None:
        """The [policy] published with the configuration now; None when none was."""
        version = self.client.get(_POLICY)
        raw = self.client.get(key("policy", version.decode())) if version else None
        if not raw:
            return None
        problems = Problems(f"published policy v{version.decode()}")
        policy = parse_policy(json.loads(raw)["policy"], problems)
        return None if problems.fatal else policy

    def published(self) -> Config:
        """Numbers, centers and each flow's live version as published now; only reads
        (``ivr preview --redis-url``)."""
        try:
            numbers_raw, flows_raw, centers = (
                self.client.hgetall(key(name)) for name in ("numbers", "flows", "centers")
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        numbers = {
            e164.decode(): n
            for e164, raw in numbers_raw.items()
            if (n := self.views.number(e164.decode(), raw)) is not None
        }
        live = {f.decode(): _live(v.decode())[0] for f, v in flows_raw.items()}
        flows = {f: flow for f, v in live.items() if (flow := self.flow(f, v)) is not None}
        return Config(centers=self.views.centers(centers), numbers=numbers, flows=flows, policy=self.policy())

    def rollback(self, flow_id: str, version: int, by: str, message: str = "") -> int | None:
        """Make an earlier version live again, atomically; returns the version it replaced.
        Calls in progress keep their own version; the change is logged like a publish."""

        def change(pipe: Any) -> int | None:
            raw = pipe.get(key("flow", flow_id, str(version)))
            if not raw:
                raise StoreUnavailable(f"flow {flow_id} has no version {version}")
            was = pipe.hget(_FLOWS, flow_id)
            previous = _live(was.decode())[0] if was else None
            doc = json.loads(raw)
            reach = _reach(flow_id, doc["flow"])
            pipe.multi()
            pipe.hset(_FLOWS, flow_id, f"{version}:{doc['digest'][:16]}")
            if reach is None:  # the script then checks every center
                pipe.hdel(_REACH, flow_id)
            else:
                pipe.hset(_REACH, flow_id, reach)
            pipe.xadd(
                key("config", "log"),
                {
                    "action": "rollback",
                    "by": by,
                    "message": message,
                    "flows": json.dumps({flow_id: version}),
                    "was": json.dumps({flow_id: previous}),
                },
            )
            pipe.execute()
            return previous

        return self._watching_flows(change, "rollback")

    def _watching_flows(self, change: Callable[[Any], T], what: str) -> T:
        """Run ``change(pipe)`` with the configuration's hashes watched, again when another
        publish or rollback changed them first (20 times at most)."""
        for _ in range(20):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(_FLOWS, _NUMBERS, _CENTERS, _REACH)
                    return change(pipe)
                except WatchError:
                    continue
        raise StoreUnavailable(f"configuration kept changing during the {what}; try again")

    def record_fallback(self, digest: str, by: str, numbers: int) -> None:
        """Remember the digest of the fallback documents built from the published configuration."""
        self.client.hset(
            key("config", "fallback"),
            mapping={
                "digest": digest,
                "by": by,
                "numbers": str(numbers),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def fallback_built(self) -> dict[str, str]:
        """The last fallback build recorded (digest, by, numbers, built_at); {} if none."""
        found = self.client.hgetall(key("config", "fallback"))
        return {k.decode(): v.decode() for k, v in found.items()}

    def config_log(self, count: int = 50) -> list[dict[str, str]]:
        """The newest configuration changes first: who, when, what."""
        rows = self.client.xrevrange(key("config", "log"), count=count)
        return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}} for i, f in rows]


def breaker_moved(was: State, now: State, why: str) -> None:
    """The log line of each change of the webhooks' circuit breaker."""
    log.warning("redis circuit %s -> %s: %s", was.value, now.value, why)


def _pairs(flat: list[bytes]) -> list[tuple[str, str]]:
    """A flat [name, value, ...] reply as decoded pairs."""
    return [(flat[i].decode(), flat[i + 1].decode()) for i in range(0, len(flat), 2)]


def _live(value: str) -> tuple[int, str]:
    """A flows hash value "version:digest" (or a bare version) as (version, digest)."""
    version, _, content = value.partition(":")
    return int(version), content


def _after(entry_id: str) -> str:
    """The smallest stream id greater than entry_id."""
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def _policy_version(pipe: Any, sources: Sources, by: str, message: str) -> tuple[int, str] | None:
    """The version the folder's [policy] gets (the live one when unchanged) and, when it is
    new, its document to write; None when the folder has no policy."""
    if sources.policy is None:
        return None
    raw = sources.policy[1]
    digest = _digest(raw)
    live = pipe.get(_POLICY)
    if live:
        old = pipe.get(key("policy", live.decode()))
        if old and json.loads(old).get("digest") == digest:
            return int(live), ""
    version = int(pipe.incr(key("policy", "seq")))
    return version, json.dumps(
        {
            "policy": raw,
            "digest": digest,
            "by": by,
            "message": message,
            "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        sort_keys=True,
    )


def _reach(flow_id: str, raw: Mapping[str, Any]) -> str | None:
    """The centers a flow's version can reach, one a line, as the commit script reads them;
    None when it does not parse."""
    problems = Problems(f"flow {flow_id}")
    try:
        flow = parse_flow(flow_id, raw, problems)
    except (ValueError, KeyError, TypeError):
        return None
    return None if problems.fatal else "\n".join(flow.reach)


def _digest(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


def publisher() -> str:
    """Who is publishing, for the configuration log: IVR_PUBLISHER, else the OS user."""
    try:
        user = getpass.getuser()  # LOGNAME, USER, ... then the password database
    except (OSError, KeyError):  # a uid without an entry (some containers)
        user = f"uid {os.getuid()}"
    return os.environ.get("IVR_PUBLISHER") or user
