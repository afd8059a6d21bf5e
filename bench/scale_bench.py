"""A webhook's cost against the size of the company: `make bench-scale`.

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
long checking and publishing took per number. Options: --numbers, --centers, --samples.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from werkzeug.test import EnvironBuilder  # noqa: E402

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
    parser.add_argument("--samples", type=int, default=20, help="per kind, round and size")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
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


def report(companies: list[Company]) -> None:
    base = companies[0]
    print(
        "| numbers | centers | "
        + " | ".join(f"{k} worker µs | {k} Redis µs" for k in KINDS)
        + " | check µs/number | load µs/number |"
    )
    print("|" + "---|" * (4 + 2 * len(KINDS)))
    for c in companies:
        cells = []
        for k in KINDS:
            for i in (0, 1):
                value, ref = c.medians(k)[i], base.medians(k)[i]
                cells.append(f"{value:,.0f} ({value / ref:.2f})")
        print(
            f"| {c.numbers:,} | {c.centers:,} | "
            + " | ".join(cells)
            + f" | {c.check_s / c.numbers * 1e6:,.0f} | {c.load_s / c.numbers * 1e6:,.0f} |"
        )


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "warning")
    raise SystemExit(main())
