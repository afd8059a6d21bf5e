"""`ivr audit verify` and `ivr report` over a long record, part in day files, part in Redis
(`make bench-archive`).

Simulates calls (the report tests' generator) over ``--days`` days, seals every event with
the real sealing code and appends it, chained, to a private redis-server (ids at the time of
each event); ``ivr audit archive`` moves all but the last ``--hot-days`` to day files. Then,
and anchors are taken every 5 minutes of stream time (in Redis and a local log, as
``ivr audit anchor --log`` on a timer would). Then, each in a fresh process so that its
peak RSS is its own: verify over files and Redis (the files walked by a child process, then
in one process), verify over Redis alone (from the pruned marker), and the report of the
whole period over files and Redis. Prints wall time, CPU (with the child's) and peak RSS
(VmHWM: ``resource.getrusage``'s ru_maxrss in a child still holds the forking parent's
peak; the child's is shown apart).

    .venv/bin/python bench/archive_bench.py [--calls 150000] [--days 60] [--hot-days 35]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr import anchors, archive  # noqa: E402
from ivr.evidence import Keyring  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests import records  # noqa: E402
from tests.servers import RedisServer  # noqa: E402

SECRET = "bench-caller-hash-key"
START = datetime(2026, 9, 1, tzinfo=UTC)

# Run in a fresh interpreter: the figures are that process's alone.
PROBE = """
import os, resource, sys, time
from datetime import date
from pathlib import Path
sys.path.insert(0, {root!r})
from ivr import anchors, audit, report
from ivr.evidence import Keyring
from ivr.store import Store, connect
store = Store(connect({url!r}, timeout=30))
folder = Path({folder!r}) if {folder!r} else None
def cpu():  # this process's CPU and its children's (verify walks day files in one)
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
began, used = time.perf_counter(), cpu()
if {what!r}.startswith("verify"):
    split = 10**12 if {what!r} == "verify1" else audit.SPLIT_AT
    v = audit.verify(store, Keyring("k1", {secret!r}.encode()), Path({log!r}), folder, split)
    said = "intact" if v.intact else "BROKEN " + v.problem
    what = f"{{v.entries:,}} entries, {{v.anchors:,}} anchors, {{said}}"
else:
    start, end = date.fromisoformat({start!r}), date.fromisoformat({end!r})
    rows = audit.period(store, start, end, folder, stored=True)
    built = report.build_report(report.stored_events(rows), start, end)
    report.render(built, "text")
    what = f"{{built.volume.calls_received:,}} calls"
# VmHWM, this process's own peak RSS: getrusage's ru_maxrss keeps the forking parent's
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
if child:
    what += f" (its child process: {{child}} MiB peak RSS)"
print(f"{{time.perf_counter() - began:.2f}}|{{cpu() - used:.2f}}|{{peak:.0f}}|{{what}}")
"""


def probe(what: str, url: str, folder: str, start: date, end: date, log: str = "/dev/null") -> str:
    code = PROBE.format(
        root=str(ROOT),
        url=url,
        folder=folder,
        log=log,
        what=what,
        secret=SECRET,
        start=start.isoformat(),
        end=end.isoformat(),
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall, cpu, peak, said = out.stdout.strip().split("|")
    return f"{float(wall):7.2f} s wall {float(cpu):7.2f} s CPU {int(peak):5d} MiB peak RSS   {said}"


def anchor_every(store: Store, log: Path, minutes: int) -> int:
    """The anchors ``ivr audit anchor`` on a timer would have taken over the record, in
    Redis and in the local log: one every ``minutes`` of stream time. Returns how many."""
    taken, due, count = 0, 0, 0
    pipe = store.client.pipeline(transaction=False)
    with log.open("w") as out:
        for entry_id, stored in store.stored():
            count += 1
            ms = int(entry_id.partition("-")[0])
            if ms >= due:
                at = datetime.fromtimestamp(ms / 1000 + 1, UTC).isoformat(timespec="milliseconds")
                anchor = anchors.Anchor(at, entry_id, stored[-1], count)
                pipe.xadd("onshore:audit:anchors", anchor.fields())
                out.write(json.dumps(anchor.fields(), sort_keys=True) + "\n")
                taken, due = taken + 1, ms + minutes * 60_000
    pipe.execute()
    return taken


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--hot-days", type=int, default=35)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    folder = Path(tempfile.mkdtemp(prefix="onshore-archive-"))
    try:
        began = time.perf_counter()
        events = records.simulated(args.calls, START, args.days)
        records.append(server.client(), Keyring("k1", SECRET.encode()), events)
        total = len(events)
        del events
        log = folder / "anchors.jsonl"
        taken = anchor_every(Store(connect(server.url, timeout=30)), log, 5)
        made = time.perf_counter() - began
        today = (START + timedelta(days=args.days)).date()
        began = time.perf_counter()
        written, _ = archive.archive(
            Store(connect(server.url, timeout=30)), folder / "days", args.hot_days, today
        )
        moved = time.perf_counter() - began
        in_files = sum(d.count for d in written)
        size = sum((folder / "days" / d.file).stat().st_size for d in written)
        print(
            f"{total:,} events of {args.calls:,} calls over {args.days} days, sealed and "
            f"appended, {taken:,} anchors taken (every 5 minutes, Redis and a local log) in "
            f"{made:.0f} s; archived {in_files:,} in {len(written)} day files "
            f"({size / 2**20:.0f} MiB) in {moved:.1f} s, {total - in_files:,} left in Redis"
        )
        end = today - timedelta(days=1)
        days, logged = str(folder / "days"), str(log)
        print("verify, files + Redis: " + probe("verify", server.url, days, START.date(), end, logged))
        print("  one process:         " + probe("verify1", server.url, days, START.date(), end, logged))
        print("verify, Redis alone:   " + probe("verify", server.url, "", START.date(), end, logged))
        print("report, files + Redis: " + probe("report", server.url, days, START.date(), end))
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
