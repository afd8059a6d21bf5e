"""A webhook's cost against the size of the company: `make bench-scale`.

By default it counts instructions (valgrind's callgrind, ``bench/callgrind.py``): the
same on a quiet machine and on a loaded one, so a 10 % difference means something. The
webhooks run in one Python process under callgrind that counts only each webhook (client
requests around the WSGI call); each configuration's Redis runs under callgrind counting
only its command work (reading, running, answering), bracketed per webhook by two ECHOs.
``--wall`` measures CPU seconds instead (the earlier bench, noisy on a shared machine).

For each configuration (numbers x centers), generated as TOML, checked with the real
checker and published with the real publisher (`ivr check` and `ivr load`'s own code),
it measures one "a call comes in" webhook (`POST /voice`, signed as Twilio signs) in three
situations, each in the app's own process (no HTTP: only the webhook's own work counts):

- cold: the first webhook of a process just created (``create_app``): its view of the
  number is empty, so the commit is refused once and the flow is read (one sample per
  process, each on another number);
- warm: a number the process has answered before, on an unchanged configuration;
- publish: the first webhook of each number after a publish that changed one center every
  flow reaches, on a process that answered those numbers before.

Worker CPU is the thread's CPU time around the WSGI call (the median); Redis CPU is
``used_cpu_sys`` + ``used_cpu_user`` over a batch of such webhooks, less what INFO itself
costs, per webhook. Prints microseconds and their ratio to the 10-number, 3-center row, then how
long checking and publishing took per number. Options: --numbers, --centers, --samples,
--rounds (--wall only), --wall.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from bench import callgrind  # noqa: E402
from ivr import create_app  # noqa: E402
from ivr.caller import Caller, Phone  # noqa: E402
from ivr.check import check_folder  # noqa: E402
from ivr.flowfile import Sources  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests import companies  # noqa: E402
from tests.load import first_post  # noqa: E402
from tests.servers import RedisServer, wait_for  # noqa: E402

TOKEN = "12345678901234567890123456789012"
KINDS = ("cold", "warm", "publish")
FLOWS = 10  # each reaches three offshore centers and the domestic one, whatever the size
COUNTRIES = (("PH", "Asia/Manila"), ("IN", "Asia/Kolkata"), ("MX", "America/Mexico_City"))


def number(n: int) -> str:
    return f"+1800{2_000_000 + n}"


def generate(folder: Path, numbers: int, centers: int, city: str = "City") -> None:
    """A company: ``centers`` offshore centers and a domestic one, FLOWS flows, numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [companies.HOME]
    for c in range(centers):
        country, zone = COUNTRIES[c % 3]
        name = city if c == 0 else "City"  # c0: the one center every flow reaches
        out.append(companies.center(f"c{c}", f"{name} {c}", country, zone))
    (folder / "centers.toml").write_text("\n".join(out))
    (folder / "numbers.toml").write_text(
        "".join(companies.number(number(n), f"f{n % FLOWS}") for n in range(numbers))
    )
    (folder / "flows.toml").write_text(
        "\n".join(
            companies.flow(f"f{f}", ("c0", f"c{(1 + 2 * f) % centers}", f"c{(2 + 2 * f) % centers}"))
            for f in range(FLOWS)
        )
    )


def checked(folder: Path) -> tuple[Sources, float]:
    """The folder checked as `ivr check` does, and the CPU seconds that took."""
    start = time.process_time()
    _, sources, errors = check_folder(folder, "US")
    if errors:
        raise SystemExit(f"generated configuration has problems: {errors[:3]}")
    return sources, time.process_time() - start


def publish(url: str, sources: Sources) -> float:
    """Publish as `ivr load` does; the seconds it took (Redis's part included)."""
    start = time.perf_counter()
    Store(connect(url, timeout=30)).publish(sources, by="bench")
    return time.perf_counter() - start


class Meter:
    """One webhook at a time into an app, with the CPU it and Redis spent."""

    def __init__(self, redis_client) -> None:
        self.redis = redis_client
        self.phone = Phone("http://localhost", TOKEN, lambda *a, **k: (200, "", ""))
        self.calls = 0

    def redis_cpu(self) -> float:
        """Redis's CPU time so far, µs (``used_cpu_sys`` + ``used_cpu_user``)."""
        cpu = self.redis.info("cpu")
        return (cpu["used_cpu_sys"] + cpu["used_cpu_user"]) * 1e6

    def batch(self, webhooks: list[Callable[[], float]]) -> tuple[list[float], float]:
        """(worker µs of each, Redis µs per webhook) of these webhooks run in turn; Redis's
        is its CPU over the batch less what the two INFO calls cost, over the count."""
        infos = []
        for _ in range(5):
            before = self.redis_cpu()
            infos.append(self.redis_cpu() - before)
        before = self.redis_cpu()
        worker = [w() for w in webhooks]
        spent = self.redis_cpu() - before - statistics.median(infos)
        return worker, max(0.0, spent) / len(webhooks)

    def webhook(self, app, to: str) -> float:
        """Worker µs of one first webhook of a new call to ``to``."""
        self.calls += 1
        params = first_post(Caller(to, from_=f"+1202555{self.calls % 10_000:04d}"))
        url = "http://localhost/voice"
        environ = EnvironBuilder(
            url, method="POST", data=params, headers=self.phone.signed(url, params)
        ).get_environ()
        body: list[bytes] = []
        start = time.thread_time_ns()
        body.extend(app.wsgi_app(environ, lambda status, headers: None))
        worker = (time.thread_time_ns() - start) / 1000
        if b"will be answered by" not in b"".join(body):
            raise SystemExit(f"not a disclosure: {b''.join(body)[:300]!r}")
        return worker


def new_app(url: str, spool: Path):
    # the longest timeout settings allow: on a busy machine a write Redis runs late would
    # be answered from memory, which is not what is measured here
    return create_app(
        {
            "auth_token": TOKEN,
            "caller_hash_key": "bench-key",
            "redis_url": url,
            "spool_dir": str(spool),
            "redis_timeout": 1.0,
        }
    )


class Company:
    """One configuration on a redis-server of its own, in both of its variants."""

    def __init__(self, tmp: Path, numbers: int, centers: int) -> None:
        self.numbers, self.centers = numbers, centers
        self.server = RedisServer()
        self.server.start()
        wait_for(lambda: self.server.client().ping(), what="redis-server")
        self.variants = []
        for city in ("City", "Town"):  # Town: c0, which every flow reaches, renamed
            folder = tmp / f"n{numbers}-c{centers}-{city}"
            generate(folder, numbers, centers, city)
            self.variants.append(checked(folder))
        self.check_s = self.variants[0][1]
        self.load_s = publish(self.server.url, self.variants[0][0])
        self.live = 0
        self.samples: dict[str, list[float]] = {k: [] for k in KINDS}
        self.redis: dict[str, list[float]] = {k: [] for k in KINDS}

    def round(self, meter: Meter, count: int, spool: Path) -> None:
        """Cold, warm and after-publish samples on this configuration."""
        meter.redis = self.server.client()
        step = self.numbers // count  # spread over the numbers and over the flows
        picked = (
            [number(i * step + i % FLOWS) for i in range(count)]
            if step >= FLOWS
            else [number(n) for n in range(min(count, self.numbers))]
        )
        url = self.server.url
        apps = [new_app(url, spool) for _ in picked]  # a process of its own for each sample
        self.add(
            "cold",
            meter.batch(
                [lambda a=a, to=to: meter.webhook(a, to) for a, to in zip(apps, picked, strict=True)]
            ),
        )
        app = new_app(url, spool)
        for to in picked:
            meter.webhook(app, to)
        self.add("warm", meter.batch([lambda to=to: meter.webhook(app, to) for to in picked]))
        self.live = 1 - self.live
        publish(url, self.variants[self.live][0])
        self.add("publish", meter.batch([lambda to=to: meter.webhook(app, to) for to in picked]))

    def add(self, kind: str, result: tuple[list[float], float]) -> None:
        self.samples[kind] += result[0]
        self.redis[kind].append(result[1])

    def medians(self, kind: str) -> tuple[float, float]:
        return statistics.median(self.samples[kind]), statistics.median(self.redis[kind])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--numbers", type=int, nargs="+", default=[10, 1000, 10_000, 100_000])
    parser.add_argument("--centers", type=int, nargs="+", default=[3, 100, 1000])
    parser.add_argument("--samples", type=int, help="per kind (and round, --wall); default 5, 20 with --wall")
    parser.add_argument("--rounds", type=int, default=5, help="--wall only")
    parser.add_argument("--wall", action="store_true", help="CPU seconds instead of instructions")
    parser.add_argument("--driver", help=argparse.SUPPRESS)  # the counted webhook process
    args = parser.parse_args(argv)
    if args.driver:
        return driver(Path(args.driver))
    if args.wall:
        args.samples = args.samples or 20
        return wall_main(args)
    args.samples = args.samples or 5
    return count_main(args)


def wall_main(args: argparse.Namespace) -> int:
    """CPU seconds, as the bench measured before it counted instructions."""
    companies: list[Company] = []
    meter = Meter(None)
    try:
        with tempfile.TemporaryDirectory(prefix="onshore-scale-") as tmp:
            for numbers in args.numbers:
                for centers in args.centers:
                    companies.append(Company(Path(tmp), numbers, centers))
                    print(f"  published {numbers} numbers, {centers} centers", file=sys.stderr)
            # the generated sources (millions of objects, the bench's, not a worker's) out of
            # the cycle collector's way: a full collection inside a timed webhook is noise
            gc.collect()
            gc.freeze()
            for r in range(args.rounds):  # every size in each round, in turn: a slow spell
                order = companies if r % 2 == 0 else companies[::-1]  # of the machine is shared
                for company in order:
                    company.round(meter, args.samples, Path(tmp) / "spool")
                print(f"  round {r + 1} of {args.rounds}", file=sys.stderr)
        report(companies)
    finally:
        for company in companies:
            company.server.stop()
    return 0


def picks(numbers: int, count: int) -> list[str]:
    """``count`` numbers spread over the numbers and over the flows."""
    step = numbers // count
    if step >= FLOWS:
        return [number(i * step + i % FLOWS) for i in range(count)]
    return [number(n) for n in range(min(count, numbers))]


def driver(out: Path) -> int:
    """The webhooks' process, run under callgrind: for each configuration the parent names
    on stdin (its Redis, the numbers to call), the instructions of each measured webhook,
    and which of that Redis's ECHOs closed it, as one JSON line on stdout. Each
    configuration is measured in a child forked from this process as it was after its
    imports, so what one configuration left in module-level caches never helps another."""
    marks = callgrind.Marks(out)
    meter = Meter(None)
    with tempfile.TemporaryDirectory(prefix="onshore-scale-spool-") as spool_dir:
        while line := sys.stdin.readline():  # no read-ahead: a child reads the rest
            sys.stdout.flush()
            child = os.fork()
            if child == 0:
                result = drive_one(json.loads(line), marks, meter, Path(spool_dir))
                if result is not None:
                    print("@@" + json.dumps(result), flush=True)
                os._exit(0 if result is not None else 1)
            _, status = os.waitpid(child, 0)
            if status:
                return 1
    return 0


def drive_one(job: dict, marks: callgrind.Marks, meter: Meter, spool: Path) -> dict | None:
    """Cold, warm and after-publish webhooks on one configuration, each counted."""
    url, picked = job["url"], job["picked"]
    marker = redis.Redis.from_url(url, socket_timeout=300)
    echoes = [0]

    def echo() -> int:
        marker.echo("mark")
        echoes[0] += 1
        return echoes[0]

    echo()  # the marker's own connection
    idle = []
    for _ in range(3):  # what two ECHOs with nothing between count
        echo()
        idle.append(echo())
    meter.webhook(new_app(url, spool), picked[-1])  # the first on this Redis loads the script
    found: dict[str, list[list[int]]] = {k: [] for k in KINDS}

    def measured(kind: str, app, to: str) -> None:
        gc.collect()
        echo()
        marks.start()
        meter.webhook(app, to)
        worker = marks.stop()
        found[kind].append([worker, echo()])

    calls: dict[str, dict[str, float]] = {}

    def commands(kind: str, run: Callable[[], None]) -> None:
        """Redis's commands per webhook of a kind, by name (INFO commandstats; the script's
        own calls included), less the ECHOs that bracket each."""
        before = marker.info("commandstats")
        run()
        after = marker.info("commandstats")
        found = {}
        for name, stats in after.items():
            n = (
                stats["calls"]
                - before.get(name, {}).get("calls", 0)
                - (2 * len(picked) if name == "cmdstat_echo" else 0)
            )
            if n and name != "cmdstat_info":  # the INFO before is not the webhooks'
                found[name.removeprefix("cmdstat_")] = n / len(picked)
        calls[kind] = found

    apps = [new_app(url, spool) for _ in picked]  # as in a process just started
    commands("cold", lambda: [measured("cold", a, to) for a, to in zip(apps, picked, strict=True)] and None)
    app = new_app(url, spool)
    store = app.extensions["onshore"].store
    while not store.read_for_fallback():  # what a deployed worker's chore has read within a
        pass  # minute of its start: every number, flow and center, for the fallback
    for to in picked:
        meter.webhook(app, to)
    commands("warm", lambda: [measured("warm", app, to) for to in picked] and None)
    print("@@publish", flush=True)  # the parent publishes the other variant
    if sys.stdin.readline().strip() != "ok":
        return None
    commands("publish", lambda: [measured("publish", app, to) for to in picked] and None)
    marker.close()
    return {"idle": idle, "found": found, "calls": calls}


class Counted:
    """One configuration's instruction counts: worker and Redis, per kind."""

    def __init__(self, numbers: int, centers: int, check_s: float, load_s: float) -> None:
        self.numbers, self.centers, self.check_s, self.load_s = numbers, centers, check_s, load_s
        self.worker: dict[str, list[int]] = {}
        self.redis: dict[str, list[int]] = {}
        self.calls: dict[str, dict[str, float]] = {}

    def medians(self, kind: str) -> tuple[float, float]:
        return statistics.median(self.worker[kind]), statistics.median(self.redis[kind])


def count_main(args: argparse.Namespace) -> int:
    lacking = callgrind.missing()
    if lacking:
        print(f"counting instructions needs {lacking}; or run with --wall", file=sys.stderr)
        return 2
    rows: list[Counted] = []
    native = RedisServer()  # ivr load's time, on a Redis not slowed by valgrind
    native.start()
    with tempfile.TemporaryDirectory(prefix="onshore-scale-") as tmp_dir:
        tmp = Path(tmp_dir)
        out = tmp / "worker"
        env = {**os.environ, "PYTHONHASHSEED": "0", "LOG_LEVEL": "warning"}
        command = [*callgrind.valgrind(out, "--collect-atstart=no"), sys.executable, __file__]
        proc = subprocess.Popen(
            [*command, "--driver", str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for numbers in args.numbers:
                for centers in args.centers:
                    rows.append(count_one(tmp, native, proc, numbers, centers, args.samples))
                    print(f"  counted {numbers} numbers, {centers} centers", file=sys.stderr)
        finally:
            proc.stdin.close()
            proc.wait()
            native.stop()
    count_report(rows)
    return 0


def count_one(
    tmp: Path, native: RedisServer, proc: subprocess.Popen, numbers: int, centers: int, samples: int
):
    started = time.monotonic()
    variants = []
    for city in ("City", "Town"):  # Town: c0, which every flow reaches, renamed
        folder = tmp / f"n{numbers}-c{centers}-{city}"
        generate(folder, numbers, centers, city)
        variants.append(checked(folder))
    native.client().flushall()
    row = Counted(numbers, centers, variants[0][1], publish(native.url, variants[0][0]))
    print(
        f"  {numbers} numbers, {centers} centers: checked and loaded in "
        f"{time.monotonic() - started:.0f} s; counting",
        file=sys.stderr,
    )
    server = callgrind.CountedRedis(tmp)
    try:
        publish(server.url, variants[0][0])
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"url": server.url, "picked": picks(numbers, samples)}) + "\n")
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the counted webhook process stopped")
            if line.startswith("@@publish"):
                publish(server.url, variants[1][0])
                proc.stdin.write("ok\n")
                proc.stdin.flush()
            elif line.startswith("@@"):
                result = json.loads(line[2:])
                break
        counts = server.counts()  # dump k: what Redis ran since ECHO k-1, up to ECHO k
    finally:
        server.stop()
    idle = statistics.median(counts[i - 1] for i in result["idle"])
    for kind, pairs in result["found"].items():
        row.worker[kind] = [w for w, _ in pairs]
        row.redis[kind] = [max(0, counts[e - 1] - idle) for _, e in pairs]
    row.calls = result["calls"]
    return row


def _size_table(rows: Sequence[Counted | Company], unit: str, digits: int) -> None:
    """A row per configuration size: each kind's worker and Redis medians in ``unit`` with
    the ratio (to ``digits`` places) to the first row's, and check's and load's µs per number."""
    base = rows[0]
    print(
        "| numbers | centers | "
        + " | ".join(f"{k} worker {unit} | {k} Redis {unit}" for k in KINDS)
        + " | check µs/number | load µs/number |"
    )
    print("|" + "---|" * (4 + 2 * len(KINDS)))
    for row in rows:
        cells = []
        for k in KINDS:
            for i in (0, 1):
                value, ref = row.medians(k)[i], base.medians(k)[i]
                cells.append(f"{value:,.0f} ({value / ref:.{digits}f})")
        print(
            f"| {row.numbers:,} | {row.centers:,} | "
            + " | ".join(cells)
            + f" | {row.check_s / row.numbers * 1e6:,.0f} | {row.load_s / row.numbers * 1e6:,.0f} |"
        )


def count_report(rows: list[Counted]) -> None:
    base = rows[0]
    _size_table(rows, "instr.", 3)
    spread = max(max(row.worker[k]) / min(row.worker[k]) for row in rows for k in KINDS if min(row.worker[k]))
    print(f"\nmedian of each kind's samples; the widest spread of one cell's worker samples: {spread:.3f}x")
    print("\nRedis commands per webhook (INFO commandstats, the script's own included):")
    for k in KINDS:
        same = all(row.calls[k] == base.calls[k] for row in rows)
        named = ", ".join(f"{name} {n:g}" for name, n in sorted(base.calls[k].items()))
        print(f"- {k}: {named}" + ("; the same at every size" if same else "; NOT the same at every size:"))
        if not same:
            for row in rows:
                print(f"  {row.numbers:,}/{row.centers:,}: {row.calls[k]}")


def report(companies: list[Company]) -> None:
    _size_table(companies, "µs", 2)


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "warning")
    raise SystemExit(main())
