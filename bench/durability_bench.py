"""What Redis durability costs the webhooks' write, and what it loses (`make bench-durability`).

For each way of making an acknowledged write durable, on private redis-servers in temporary
folders (tests/servers.py):

- throughput: ``--workers`` processes, each a webhook's write in a loop: three events sealed
  with the real sealing code (``evidence.seal_all``), appended by the real commit script
  through ``Store.commit`` (one round trip), then whatever the scheme adds before it may
  answer 200. Prints writes/s, p50/p99 latency, and CPU per write of Redis and the writers;
- loss: the same load, ``kill -9`` of redis-server in the middle of it, a restart from its
  append-only file, then every write a worker had acknowledged is looked for in the stream
  (and, for the spool scheme, in the spool). "lost" counts acknowledged events missing.

What a ``kill -9`` can and cannot show: it kills the Redis process, not the machine. What
Redis handed to the kernel with write(2) is in the page cache and survives. So it shows only
writes Redis acknowledged before handing them to the kernel: with ``everysec``, while the
previous second's fsync is still running, Redis puts off its write(2) for up to two seconds
and answers the clients anyway (INFO's ``aof_delayed_fsync`` counts those times), and a
kill then loses what it answered. What only a power cut or a kernel crash loses (everything
written since the last fsync: up to about two seconds with ``everysec``) cannot be produced
on this machine; the table prints that window as the acknowledged events it would hold at
the measured rate.

    .venv/bin/python bench/durability_bench.py [--seconds 5] [--workers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import evidence, keys  # noqa: E402
from ivr.errors import StoreUnavailable  # noqa: E402
from ivr.evidence import Keyring  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from ivr.vocabulary import Event  # noqa: E402
from tests.servers import RedisServer, wait_for  # noqa: E402

KEYS = Keyring("k1", b"bench-caller-hash-key")
STEPS = ("received", "disclosed", "offered")


@dataclass(frozen=True)
class Scheme:
    name: str
    redis_args: tuple[str, ...]
    spool: bool = False  # the writer also appends its events to a local file and fsyncs it
    replica: bool = False  # a replica; the writer waits (WAIT 1) until it holds the write
    note: str = ""


SCHEMES = (
    Scheme("no persistence", ("--appendonly", "no"), note="reference: loses everything"),
    Scheme(
        "always",
        ("--appendonly", "yes", "--appendfsync", "always"),
        note="fsync before Redis replies (group commit across clients)",
    ),
    Scheme(
        "everysec",
        ("--appendonly", "yes", "--appendfsync", "everysec"),
        note="write(2) before replying, fsync each second",
    ),
    Scheme(
        "everysec + spool fsync",
        ("--appendonly", "yes", "--appendfsync", "everysec"),
        spool=True,
        note="each writer fsyncs its own journal before answering",
    ),
    Scheme(
        "everysec + replica WAIT",
        ("--appendonly", "yes", "--appendfsync", "everysec"),
        replica=True,
        note="WAIT 1 after the write (a second round trip here); loss: the "
        "primary killed and its disk gone, the replica promoted",
    ),
)


def webhook(n: int, worker: int) -> tuple[str, list[tuple[str, str]]]:
    """A webhook's events as the app seals them: (CallSid, [(step key, body), ...])."""
    sid = f"CA{worker:04x}{n:028x}"
    common = evidence.common_fields(sid, "c0ffee", datetime.now(UTC))
    events = [
        Event(
            step,
            step,
            (
                ("center", "manila"),
                ("text", "Your call will be answered by our team in Manila, the Philippines."),
            ),
        )
        for step in STEPS
    ]
    return sid, evidence.seal_all(KEYS, common, events)


def writer(
    url: str, worker: int, seconds: float, spool_dir: str, acked_path: str, out: mp.Queue, replica: bool
) -> None:
    """Write webhooks until time is up or Redis is gone; note each acknowledged CallSid."""
    store = Store(connect(url, timeout=2.0))
    journal = None
    if spool_dir:
        journal = os.open(
            os.path.join(spool_dir, f"journal-{worker}"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640
        )
    acked = open(acked_path, "w")  # noqa: SIM115 - flushed per write, closed below
    latencies: list[float] = []
    cpu0, end = time.process_time(), time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        sid, sealed = webhook(n, worker)
        began = time.perf_counter()
        try:
            store.append(sid, sealed)
            if replica and store.client.execute_command("WAIT", 1, 1000) < 1:
                break  # no replica holds it: not acknowledged
        except (StoreUnavailable, redis.RedisError):
            break
        if journal is not None:
            os.write(journal, "".join(body + "\n" for _, body in sealed).encode())
            os.fsync(journal)
        latencies.append(time.perf_counter() - began)
        acked.write(sid + "\n")
        acked.flush()  # what this process acknowledged survives its own exit
        n += 1
    out.put((latencies, time.process_time() - cpu0))
    acked.close()


def redis_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(scheme: Scheme, seconds: float, workers: int, kill_after: float | None) -> dict:
    server = RedisServer(*scheme.redis_args)
    server.start()
    replica = None
    if scheme.replica:
        replica = RedisServer(*scheme.redis_args, "--replicaof", "127.0.0.1", str(server.port))
        replica.start()
        wait_for(
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            what="replica link",
        )
    work = tempfile.mkdtemp(prefix="onshore-durability-")
    try:
        assert server.proc is not None
        pid = server.proc.pid
        cpu0 = redis_cpu(pid)
        replica_cpu0 = redis_cpu(replica.proc.pid) if replica and replica.proc else 0.0
        out: mp.Queue = mp.Queue()
        procs = [
            mp.Process(
                target=writer,
                args=(
                    server.url,
                    w,
                    seconds,
                    work if scheme.spool else "",
                    f"{work}/acked-{w}",
                    out,
                    scheme.replica,
                ),
            )
            for w in range(workers)
        ]
        began = time.perf_counter()
        for p in procs:
            p.start()
        redis_seconds = 0.0
        delayed = 0
        if kill_after is not None:
            time.sleep(kill_after)
            # writes Redis put off (and answered anyway) while an fsync was still running
            delayed = int(server.client().info("persistence").get("aof_delayed_fsync", 0))
            server.proc.kill()  # SIGKILL: no shutdown, no final fsync
            server.proc.wait()
            server.proc = None
        results = [out.get(timeout=seconds + 60) for _ in procs]
        elapsed = time.perf_counter() - began
        for p in procs:
            p.join()
        if kill_after is None:  # Redis's CPU, the replica's included: both are the cost
            redis_seconds = redis_cpu(pid) - cpu0
            if replica is not None and replica.proc is not None:
                redis_seconds += redis_cpu(replica.proc.pid) - replica_cpu0
        latencies = sorted(x for lat, _ in results for x in lat)
        row = {
            "writes": len(latencies),
            "elapsed": elapsed,
            "writer_cpu": sum(c for _, c in results),
            "redis_cpu": redis_seconds,
            "p50": statistics.median(latencies) if latencies else 0.0,
            "p99": latencies[int(len(latencies) * 0.99)] if latencies else 0.0,
            "delayed": delayed,
        }
        if kill_after is not None and replica is not None:
            shutil.rmtree(server.dir, ignore_errors=True)  # the primary's host is gone
            replica.client().execute_command("REPLICAOF", "NO", "ONE")
            row.update(lost(replica, scheme, work, workers, restart=False))
        elif kill_after is not None:
            row.update(lost(server, scheme, work, workers))
        return row
    finally:
        for s in (server, replica):
            if s is not None:
                s.stop()
                shutil.rmtree(s.dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def lost(server: RedisServer, scheme: Scheme, work: str, workers: int, restart: bool = True) -> dict:
    """Restart Redis from what it left on disk; count acknowledged events it does not hold."""
    if restart:
        server.start()
    client = server.client()
    wait_for(lambda: client.ping(), what="redis-server restart")
    wait_for(lambda: client.info("persistence").get("loading") == 0, what="AOF load")
    acked = [sid for w in range(workers) for sid in Path(f"{work}/acked-{w}").read_text().split()]
    held: set[tuple[str, str]] = set()
    cursor = "-"
    while rows := client.xrange(keys.EVENTS, cursor, "+", count=10_000):
        for _, fields in rows:
            flat = evidence.unpack([x.decode() for pair in fields.items() for x in pair])
            pairs = dict(zip(flat[::2], flat[1::2], strict=True))
            held.add((pairs["call"], pairs["step"]))
        cursor = "(" + rows[-1][0].decode()
    if scheme.spool:  # what the journals hold would be replayed into Redis
        for w in range(workers):
            path = Path(work) / f"journal-{w}"
            for line in path.read_text().splitlines() if path.exists() else ():
                flat = evidence.unpack(["event", line, "prev", "", "hash", ""])
                pairs = dict(zip(flat[::2], flat[1::2], strict=True))
                held.add((pairs["call"], pairs["step"]))
    missing = sum((sid, step) not in held for sid in acked for step in STEPS)
    return {"acked_events": len(acked) * len(STEPS), "lost": missing}


def waitaof_available() -> str:
    """Whether this redis-server has WAITAOF (Redis 7.2+)."""
    server = RedisServer("--appendonly", "yes")
    server.start()
    try:
        version = server.client().info("server")["redis_version"]
        try:
            server.client().execute_command("WAITAOF", 1, 0, 100)
            return f"Redis {version}: WAITAOF available"
        except redis.ResponseError as exc:
            return f"Redis {version}: WAITAOF not available ({exc})"
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(waitaof_available())
    print(
        f"{args.workers} writers, {args.seconds:.0f} s a round, {args.rounds} rounds; "
        f"3 sealed events per write (one webhook); loss: kill -9 mid-load, restart from AOF"
    )
    header = (
        f"{'scheme':24} {'writes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'redis µs/w':>10} "
        f"{'writer µs/w':>11} {'acked ev':>9} {'lost':>6} {'power-cut window':>17}"
    )
    rounds: dict[str, list[dict]] = {s.name: [] for s in SCHEMES}
    for n in range(args.rounds):  # alternating: a busy spell of the machine falls on all
        for scheme in SCHEMES if n % 2 == 0 else SCHEMES[::-1]:
            rounds[scheme.name].append(run(scheme, args.seconds, args.workers, None))
    print(header)
    for scheme in SCHEMES:
        rows = rounds[scheme.name]
        rates = sorted(r["writes"] / r["elapsed"] for r in rows)
        mid = sorted(rows, key=lambda r: r["writes"] / r["elapsed"])[len(rows) // 2]
        rate = rates[len(rates) // 2]
        killed = run(scheme, args.seconds, args.workers, args.seconds / 2)
        window = {"always": "0", "no persistence": "all", "everysec + replica WAIT": "0 (replica)"}
        exposure = window.get(scheme.name, "0 (journal)")
        if scheme.name == "everysec":
            exposure = f"<= ~{int(2 * rate * len(STEPS)):,} ev"
        print(
            f"{scheme.name:24} {rate:9,.0f} {mid['p50'] * 1000:7.2f} {mid['p99'] * 1000:7.2f} "
            f"{mid['redis_cpu'] / mid['writes'] * 1e6:10.1f} "
            f"{mid['writer_cpu'] / mid['writes'] * 1e6:11.1f} "
            f"{killed['acked_events']:9,} {killed['lost']:6,} {exposure:>17}"
        )
        print(
            f"{'':24} rounds: "
            + ", ".join(f"{x:,.0f}/s" for x in rates)
            + f"; aof_delayed_fsync before the kill: {killed['delayed']}; {scheme.note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
