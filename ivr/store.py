"""Redis: the connection and the webhooks' commit path (the commit script, the circuit
breaker, Redis's clock and the answer's deadline, the configuration views read).

Only ``Store`` talks to Redis. It is made of three parts, one module each: this one; the
evidence record's reads, export and pruning (``ivr.record``); publishing, rollback and
versions (``ivr.publishing``). Every key is built in ``ivr.keys``.

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

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as ConnectionLost
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.retry import Retry

from ivr import keys
from ivr.breaker import Breaker, State
from ivr.config_view import EMPTY, Memory, Scope, View, Views
from ivr.errors import CircuitOpen, StoreUnavailable, Unconfirmed
from ivr.estimate import RECENT
from ivr.flow import Center, Config, Flow
from ivr.flowfile import Problems, parse_flow
from ivr.publishing import Publishing, parse_live
from ivr.record import Record

__all__ = ["EMPTY", "WRITTEN", "Committed", "Scope", "Stale", "Store", "View", "Written", "connect"]

log = logging.getLogger(__name__)

T = TypeVar("T")
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


@dataclass(frozen=True)
class Written:
    """What ``Store.commit`` returns when the events are in the record (or were already)."""


WRITTEN = Written()


@dataclass(frozen=True)
class Stale:
    """What ``Store.commit`` returns when the scope's objects had changed: nothing was
    written, and ``view`` is what Redis holds now, to decide on again."""

    view: View


Committed = Written | Stale


class Store(Record, Publishing):
    """Reads configuration and records evidence, within the time budget; reads, exports
    and prunes the record (``Record``) and publishes (``Publishing``)."""

    def __init__(
        self, client: redis.Redis, answer_within: float = 0.0, breaker: Breaker | None = None
    ) -> None:
        self.client = client  # redis-py's annotations cover sync and async; we are sync
        # The webhooks' store has one; tools (ivr load, audit) wait for Redis instead.
        self.breaker = breaker
        # A write Redis runs later than this after it was sent (it was hung, then resumed)
        # is refused: by then the caller was answered from memory. 0: no deadline (tools).
        self.answer_within = answer_within
        self._clock_offset: float | None = None  # Redis's clock minus ours, a lower bound
        self._offset_samples = 0
        self._bulk = None  # the bulk reader, made on first use
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
        raw = self.memory.raw_numbers.get(to)
        number = (self.views.number(to, raw) if raw else None) or self.memory.numbers.get(to)
        return View("", number, self.memory.versions, self.memory.centers)

    def read_for_fallback(self, count: int = 2_000) -> bool:
        """One step of the background pass that reads every number (kept raw, parsed only
        when Redis is down and a webhook needs one) and, at its end, every live flow and
        center, so that a number this process never answered still gets its own flow's safe
        answer; True when a pass ended. Never on a caller's time (``ivr.chores``)."""
        cursor, rows = self.through_breaker(
            lambda: self.client.hscan(keys.NUMBERS, self._scan_cursor, count=count)
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
        flows_raw, centers_raw = self.through_breaker(
            lambda: (self.client.hgetall(keys.FLOWS), self.client.hgetall(keys.CENTERS))
        )
        versions = {f.decode(): parse_live(v.decode())[0] for f, v in flows_raw.items()}
        self.memory.merge(versions, self.views.centers(centers_raw))
        self._prefetch(versions)
        return True

    def commit(
        self, call_sid: str, scope: Scope, expected: str, sealed: Iterable[tuple[str, str]]
    ) -> Committed:
        """Append the sealed events (step key, body) if the scope's objects are still
        ``expected`` ("*": whatever they are): WRITTEN, else Stale with the scope's current
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
        call = call_sid or "-"
        names = [
            keys.EVENTS,
            keys.call_steps(call),
            keys.NUMBERS,
            keys.FLOWS,
            keys.CENTERS,
            keys.CHAIN_HEAD,
            keys.call_entries(call),
            keys.FLOWS_REACH,
        ]

        def run() -> Any:
            try:
                return self._on_line("EVALSHA", self._commit.sha, len(names), *names, *argv)
            except NoScriptError:  # Redis restarted empty: load the script once, then again
                self._on_line("SCRIPT", "LOAD", _COMMIT)
                return self._on_line("EVALSHA", self._commit.sha, len(names), *names, *argv)

        reply = self.through_breaker(run)
        self._learn_clock(int(reply[-1]) / 1000 - time.time())
        if reply[0] == 2:
            raise StoreUnavailable("Redis ran the write after the answer's deadline; nothing written")
        if reply[0] == 1:
            return WRITTEN
        _, digest, number_raw, flow_id, live, centers_flat, _ = reply
        versions = {}
        if flow_id:
            version, content = parse_live(live.decode()) if live else (0, "")
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
        return Stale(view)

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
        if flow is None:
            return ""
        # A shared center's sites are centers the disclosure at the bridge names (ivr.bind):
        # then every center. A center this worker has not read yet may be one, unless it
        # has read nothing at all (a cold worker: its fallback reading fills it in seconds).
        known = self.memory.centers
        if any(known[c].target.shared if c in known else bool(known) for c in flow.reach):
            return "*"
        return "\n".join(flow.reach)

    def through_breaker(self, call: Callable[[], T]) -> T:
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
        docs = self.through_breaker(lambda: self.client.mget([keys.flow_version(f, v) for f, v in missing]))
        for (flow_id, version), raw in zip(missing, docs, strict=True):
            if raw:
                self._parse_flow(flow_id, version, raw)

    def _read_clock(self) -> None:
        seconds, micros = self.through_breaker(self.client.time)
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
        steps = keys.call_steps(call_sid)
        return bool(self.through_breaker(lambda: self._on_line("SISMEMBER", steps, step_key)))

    def record_wait(self, center: str, call_sid: str, seconds: int, at: float) -> None:
        """Remember how long a caller waited in a center's queue before an agent answered
        (idempotent per CallSid: a replay keeps the first); raises StoreUnavailable."""
        waits = keys.queue_waits(center)

        def run() -> None:  # one round trip; no MULTI: the trim is idempotent
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(waits, {f"{call_sid}:{seconds}": at}, nx=True)
            pipe.zremrangebyrank(waits, 0, -RECENT - 1)
            pipe.execute()

        self.through_breaker(run)

    def recent_waits(self, center: str) -> list[tuple[float, float]]:
        """(when, seconds) recent callers waited in a center's queue, newest first; raises
        StoreUnavailable."""
        waits = keys.queue_waits(center)
        flat = self.through_breaker(  # on the webhook's own line: one round trip
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
        raw = self.through_breaker(lambda: self.client.get(keys.flow_version(flow_id, version)))
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

    def ping(self) -> bool:
        """True when Redis answers now."""
        try:
            return bool(self.client.ping())
        except (RedisError, OSError):
            return False

    def centers(self) -> dict[str, Center]:
        """The centers as published now."""
        return self.views.centers(self.client.hgetall(keys.CENTERS))

    def published(self) -> Config:
        """Numbers, centers and each flow's live version as published now; only reads
        (``ivr preview --redis-url``)."""
        try:
            numbers_raw, flows_raw, centers = (
                self.client.hgetall(name) for name in (keys.NUMBERS, keys.FLOWS, keys.CENTERS)
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(str(exc)) from exc
        numbers = {
            e164.decode(): n
            for e164, raw in numbers_raw.items()
            if (n := self.views.number(e164.decode(), raw)) is not None
        }
        live = {f.decode(): parse_live(v.decode())[0] for f, v in flows_raw.items()}
        flows = {f: flow for f, v in live.items() if (flow := self.flow(f, v)) is not None}
        return Config(centers=self.views.centers(centers), numbers=numbers, flows=flows, policy=self.policy())


def breaker_moved(was: State, now: State, why: str) -> None:
    """The log line of each change of the webhooks' circuit breaker."""
    log.warning("redis circuit %s -> %s: %s", was.value, now.value, why)
