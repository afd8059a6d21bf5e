"""Speed benchmark: whole calls through Onshore, bare Flask and the naive stack (`make bench`).

What it does, all on private servers it starts and stops itself:

1. a redis-server on a free port configured as deploy/redis.conf ships it (read at run time:
   appendonly, appendfsync, save, ...; only dir, bind, port and the ACL file are the bench's),
   with flows/ plus a generated company of 10,000 numbers and 100 centers checked and
   published by the real checker and publisher (bench/call_mix.py);
2. call scripts: calls played once in-process (ivr.caller.Phone against the WSGI test
   client, on a throwaway Redis holding the same flows and centers), every request recorded
   with the ~25 fields Twilio sends; replayed as load with a new CallSid and caller each,
   re-signed, over all the numbers (bench/call_mix.py says how);
3. Redis round trips per first webhook, through a counting TCP proxy (bench/redis_proxy.py);
4. throughput: gunicorn of Onshore, of bench/baseline_app.py (bare Flask, constant TwiML) and
   of bench/naive_app.py (Flask + VoiceResponse + RequestValidator + GET and XADD), identical
   settings (deploy/gunicorn.conf.py as deployed: worker recycling, 2 sync workers per core),
   each driven by wrk with the same pre-signed requests: a short first run sizes the pool,
   then rounds measure the three one after the other, in an order that turns each round;
5. checks that make the numbers mean something: sampled answers are 200 valid TwiML, a
   badly signed post gets 403, no non-2xx under load, the pool never wrapped, and Redis
   holds the evidence every sent request should have written.

Exit status 0 when every check passed, 1 otherwise. Everything started is stopped and every
temporary file removed, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from bench.call_mix import (  # noqa: E402
    CLASSES,
    PUBLIC,
    SUPPORT,
    Pool,
    Step,
    generated_number,
    play,
    write_configuration,  # noqa: E402
)
from bench.redis_proxy import CountingProxy, commandstats, per_request  # noqa: E402
from ivr import create_app, keys  # noqa: E402
from ivr.check import check_folder  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests.servers import REDIS_CONF, Gunicorn, RedisServer, wait_for  # noqa: E402
from tests.servers import deployed_redis_args as redis_args  # noqa: E402
from tests.twiml_check import assert_valid_twiml  # noqa: E402

TOKEN = secrets.token_hex(16)
HASH_KEY = secrets.token_hex(32)
# As deployed: deploy/gunicorn.conf.py's default, 2 sync workers per core (WEB_CONCURRENCY
# unset); --workers sets another count, the same for the three servers.
WORKERS = (os.cpu_count() or 1) * 2
# Identical for all servers; the conf's accesslog = "-" is overridden from the command line
# (gunicorn cannot switch it off from there, so all write it to /dev/null). max_requests is
# the conf's: workers recycle as deployed, and their CPU is counted (BenchGunicorn.cpu).
GUNICORN_FLAGS = ["--access-logfile", "/dev/null"]
LUA = ROOT / "bench" / "voice.lua"
COLD, SEQUENTIAL = 20, 200
ONSHORE, BASELINE, NAIVE = "Onshore", "bare Flask", "naive stack"
APPS = {
    ONSHORE: "ivr:create_app()",
    BASELINE: "bench.baseline_app:create_app()",
    NAIVE: "bench.naive_app:create_app()",
}


# -- signed requests -------------------------------------------------------------------------


def call_params(call_sid: str) -> dict[str, str]:
    """A minimal "a call comes in" post to the support line (the Redis probe's requests)."""
    return {
        "CallSid": call_sid,
        "AccountSid": "AC" + "0" * 32,
        "From": "+12025550143",
        "To": SUPPORT,
        "FromCountry": "US",
        "ToCountry": "US",
        "Direction": "inbound",
        "CallStatus": "ringing",
        "ApiVersion": "2010-04-01",
    }


def post_voice(base_url: str, signature: str | None = None) -> requests.Response:
    params = call_params("CA" + secrets.token_hex(16))
    sig = RequestValidator(TOKEN).compute_signature(PUBLIC + "/voice", params)
    return requests.post(
        base_url + "/voice",
        data=urlencode(params),
        timeout=15,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature if signature is not None else sig,
        },
    )


def check_answer(status: int, content_type: str, text: str) -> str:
    """'' when this is a 200 valid TwiML answer, else why not."""
    if status != 200:
        return f"HTTP {status}"
    try:
        assert_valid_twiml(text, content_type)
    except (AssertionError, ET.ParseError) as exc:
        return f"invalid TwiML: {exc}"
    return ""


def send_lines(base_url: str, pool: Path, first: int, count: int) -> list[str]:
    """Send pool lines one at a time (so each call's webhooks in order); what failed."""
    lines = pool.read_text().splitlines()[first : first + count]
    bad = []
    for line in lines:
        method, path, sig, body = line.split("\t", 3)
        r = requests.request(
            method,
            base_url + path,
            data=body,
            timeout=15,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig},
        )
        why = check_answer(r.status_code, r.headers.get("Content-Type", ""), r.text)
        if why:
            bad.append(f"{path.split('?')[0]}: {why}")
    return bad


def cpu_ticks(pid: int, children: bool = False) -> int:
    """A process's user + system CPU ticks (with children: those of its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[13]) + int(fields[14]) if children else int(fields[11]) + int(fields[12])


# -- servers -----------------------------------------------------------------------------------


class BenchGunicorn(Gunicorn):
    """tests.servers.Gunicorn (same conf, env, workers) with the bench's flags and any app."""

    def __init__(self, env: dict[str, str], app: str) -> None:
        super().__init__(env, workers=WORKERS)
        self.app = app

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                *GUNICORN_FLAGS,
                self.app,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        wait_for(
            lambda: requests.get(self.base_url + "/healthz", timeout=1).ok,
            timeout=60,
            what=f"gunicorn {self.app}",
        )

    def workers(self) -> set[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(p) for p in path.read_text().split()}
        except OSError:
            return set()

    def cpu(self) -> float:
        """Seconds of CPU the workers used so far, recycled ones included (the master
        reaps them, so their time is in its children's)."""
        assert self.proc is not None
        ticks = sum(cpu_ticks(pid) for pid in self.workers())
        return (ticks + cpu_ticks(self.proc.pid, children=True)) / os.sysconf("SC_CLK_TCK")

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


# -- load -----------------------------------------------------------------------------------


def run_wrk(base_url: str, pool: Path, ranges: list[tuple[int, int]], seconds: int, conns: int) -> dict:
    cmd = [
        "wrk",
        f"-t{len(ranges)}",
        f"-c{conns}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "15s",
        "-s",
        str(LUA),
        base_url,  # 15 s: Twilio's webhook timeout
        "--",
        str(pool),
        *(f"{lo}:{n}" for lo, n in ranges),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0 or "BENCH " not in out.stdout:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH "))
    r = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    sent = [int(x) for x in next(ln for ln in out.stdout.splitlines() if ln.startswith("SENT ")).split()[1:]]
    # wrk's own summary says the same; read it too so the two can never disagree silently.
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    if (int(m.group(1)) if m else 0) != r["non2xx"]:
        raise RuntimeError(f"wrk's summary and done() disagree on non-2xx: {out.stdout}")
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out.stdout).group(1))
    return {
        "rps": rps,
        "p50": r["p50_us"] / 1000,
        "p99": r["p99_us"] / 1000,
        "requests": r["requests"],
        "non2xx": r["non2xx"],
        "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
        "wraps": r["wraps"],
        "sent": sent,
        "tool": "wrk",
    }


def run_python_load(
    base_url: str, pool: Path, ranges: list[tuple[int, int]], seconds: int, conns: int
) -> dict:
    """Fallback when wrk is not available: threads sharing each range in order. Python and
    the GIL cap what this can send, so its numbers are a floor, not comparable with wrk's."""
    lines = pool.read_text().splitlines()
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0, "wraps": 0}
    sent = [0] * len(ranges)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    session_local = threading.local()

    def worker(r: int) -> None:
        lo, n = ranges[r]
        session_local.s = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                i = sent[r]
                sent[r] += 1
                if i >= n:
                    counts["wraps"] += i % n == 0
            method, path, sig, body = lines[lo + i % n].split("\t", 3)
            t0 = time.perf_counter()
            try:
                resp = session_local.s.request(
                    method,
                    base_url + path,
                    data=body,
                    timeout=15,
                    headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
                )
            except requests.RequestException:
                with lock:
                    counts["errors"] += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
                counts["non2xx"] += not 200 <= resp.status_code < 400

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(k % len(ranges),)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rps": len(latencies) / elapsed,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "requests": len(latencies),
        "non2xx": counts["non2xx"],
        "socket_errors": counts["errors"],
        "wraps": counts["wraps"],
        "sent": sent,
        "tool": "python threads",
    }


def find_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        if not shutil.which("wrk"):
            subprocess.run(
                ["apt-get", "update", "-qq"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
    if shutil.which("wrk"):
        return True
    print(
        "wrk is not available: falling back to the Python load generator (its figures are lower bounds)",
        flush=True,
    )
    return False


def measure(
    server: BenchGunicorn, load, pool: Pool, ranges: list[tuple[int, int]], args, redis_pid: int, rc
) -> dict:
    """One measured load run against one server: its workers' and Redis's CPU time per
    request, the evidence entries Redis gained and the entries the sent lines should write."""
    workers, xlen, load_avg = server.workers(), rc.xlen(keys.EVENTS), os.getloadavg()[0]
    tick = os.sysconf("SC_CLK_TCK")
    cpu0 = server.cpu(), cpu_ticks(redis_pid) / tick
    res = load(server.base_url, pool.path, ranges, args.duration, args.connections)
    drained(server, rc)  # requests in flight when wrk stopped are answered (and recorded) after
    cpu1 = server.cpu(), cpu_ticks(redis_pid) / tick
    n = max(res["requests"], 1)
    res["cpu_workers_us"] = (cpu1[0] - cpu0[0]) / n * 1e6
    res["cpu_redis_us"] = (cpu1[1] - cpu0[1]) / n * 1e6
    res["worker_restarts"] = len(workers - server.workers())
    res["events"] = rc.xlen(keys.EVENTS) - xlen
    res["expected"] = sum(
        sum(pool.events[lo : lo + min(s, count)]) for (lo, count), s in zip(ranges, res["sent"], strict=True)
    )
    res["routes"] = collections.Counter(
        pool.routes[lo + i % count]
        for (lo, count), s in zip(ranges, res["sent"], strict=True)
        for i in range(s)
    )
    res["load"] = (load_avg + os.getloadavg()[0]) / 2
    return res


def drained(server: BenchGunicorn, rc, most: float = 20.0) -> None:
    """Wait until the server's workers are idle and the evidence stream stopped growing
    (at most ``most`` seconds)."""
    deadline, last = time.monotonic() + most, None
    while time.monotonic() < deadline:
        now = (rc.xlen(keys.EVENTS), server.cpu())
        if now == last:
            return
        last = now
        time.sleep(0.5)


def record_calls(tmp: Path, calls: int) -> tuple[list[list[Step]], list[str], int]:
    """Play calls in-process on a throwaway Redis holding the same flows and centers (and
    the 20 generated numbers that stand for the 10,000: number i has the flow and language
    of number i % 20); the recorded calls, the non-200 answers, the calls that heard a
    disclosure. A recording during which Redis did not answer in time (this machine is
    shared: it happens) holds answers from memory, not the calls' real path: played again."""
    folder = tmp / "recording"
    write_configuration(folder, numbers=CLASSES)
    _, sources, errors = check_folder(folder, "US")
    if errors:
        raise RuntimeError(f"the recording configuration does not check: {errors[:3]}")
    for attempt in range(3):
        server = RedisServer()
        server.start()
        try:
            Store(connect(server.url, timeout=5)).publish(sources, by="bench")
            spool = tmp / f"rec-spool-{attempt}"
            app = create_app(
                {
                    "auth_token": TOKEN,
                    "caller_hash_key": HASH_KEY,
                    "redis_url": server.url,
                    "spool_dir": str(spool),
                    "redis_timeout": 1.0,
                    "public_base_url": PUBLIC,
                }
            )
            played = play(
                app,
                TOKEN,
                server.client(),
                keys.EVENTS,
                [generated_number(i) for i in range(CLASSES)],
                calls,
            )
            if not app.extensions["onshore"].spool.pending():
                return played
            print("the recording met a Redis timeout (answers from memory): again", flush=True)
        finally:
            server.stop()
            shutil.rmtree(server.dir, ignore_errors=True)
    raise RuntimeError("three recordings met Redis timeouts: the machine is too busy")


def profile(pool: Pool, redis_url: str, spool: Path, lines: int) -> None:
    """cProfile the app in-process (WSGI test client, this Redis) over a segment of the
    pool, and print the top costs by own time."""
    import cProfile
    import pstats

    app = create_app(
        {
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_url,
            "spool_dir": str(spool),
            "public_base_url": PUBLIC,
        }
    )
    client = app.test_client()
    first, count = pool.write(lines)
    todo = [line.split("\t", 3) for line in pool.path.read_text().splitlines()[first : first + count]]
    for method, path, sig, body in todo[:200]:  # warm: connections, flows, first turns
        client.open(
            path,
            method=method,
            data=body,
            headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
        )
    passes = []
    for _ in range(3):  # new calls for each pass: a replayed call would be a retry
        first, count = pool.write(lines - 200)
        passes.append(
            [line.split("\t", 3) for line in pool.path.read_text().splitlines()[first : first + count]]
        )
    cpu_per_route(app, passes)
    prof = cProfile.Profile(time.process_time)  # CPU time: waiting on Redis is not a cost here
    t0 = time.process_time()
    prof.enable()
    for method, path, sig, body in todo[200:]:
        client.open(
            path,
            method=method,
            data=body,
            headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
        )
    prof.disable()
    n = len(todo) - 200
    print(
        f"\nin-process profile of {n} requests of the mix ({(time.process_time() - t0) / n * 1e6:.0f} "
        "µs CPU each under cProfile, the test client included); Onshore's functions by "
        "cumulative CPU, then everything by own CPU:"
    )
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(r"/ivr/", 22)
    stats.sort_stats("tottime").print_stats(12)


def cpu_per_route(app: object, passes: list[list[list[str]]]) -> None:
    """This process's CPU time per request of the mix through the app's WSGI callable
    (what a gunicorn worker runs per request, no test client, no profiler; Redis's side not
    counted), overall and by route: the figure to compare before and after a change, since
    CPU time moves far less than wall time on a loaded machine. The best of the passes
    (each its own segment of the pool: new calls)."""
    import io

    wsgi = app.wsgi_app  # type: ignore[attr-defined]
    runs = [[_environ(*line) for line in todo] for todo in passes]
    statuses: list[str] = []

    def start_response(status: str, headers: object) -> None:
        statuses.append(status)

    best: dict[str, float] = {}
    for environs in runs:
        counts = collections.Counter(route for route, _, _ in environs)
        counts["all"] = len(environs)
        spent: dict[str, float] = collections.defaultdict(float)
        for route, data, fixed in environs:
            env = {**fixed, "wsgi.input": io.BytesIO(data)}
            t = time.process_time()
            b"".join(wsgi(env, start_response))
            spent[route] += time.process_time() - t
        spent["all"] = sum(spent.values())
        for route, secs in spent.items():
            best[route] = min(best.get(route, 1e9), secs / counts[route] * 1e6)
    bad = sum(1 for status in statuses if not status.startswith("200"))
    print(
        f"\nCPU per request of the mix, in-process through the WSGI callable, best of {len(runs)} "
        f"passes of {len(runs[0])} new calls' requests ({bad} answers not 200):"
    )
    for route in sorted(best, key=lambda r: (r != "all", r)):
        print(f"  {route:<16} {best[route]:7.1f} µs")


def _environ(method: str, path: str, sig: str, body: str) -> tuple[str, bytes, dict[str, str]]:
    """A pool line as (route, body, WSGI environ without its input)."""
    script, _, query = path.partition("?")
    data = body.encode()
    return (
        script,
        data,
        {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": script,
            "QUERY_STRING": query,
            "SERVER_NAME": "onshore.bench.example",
            "SERVER_PORT": "443",
            "HTTP_HOST": "onshore.bench.example",
            "wsgi.url_scheme": "https",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(data)),
            "HTTP_X_TWILIO_SIGNATURE": sig,
        },
    )


def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values):.3f} (median of {len(values)} rounds, "
        f"{min(values):.3f} to {max(values):.3f}: {', '.join(f'{x:.3f}' for x in values)})"
    )


# -- the benchmark ----------------------------------------------------------------------------


def main() -> int:
    global WORKERS  # noqa: PLW0603 - one setting (--workers) for every server the run starts
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--mix",
        choices=("calls", "first"),
        default="calls",
        help="calls: whole calls over every number (default); first: only first "
        "webhooks to the support line, as the bench was before",
    )
    ap.add_argument("--duration", type=int, default=7, help="seconds measured per server per round")
    ap.add_argument(
        "--rounds", type=int, default=5, help="rounds, each measuring the three servers; medians are reported"
    )
    ap.add_argument(
        "--warmup", type=int, default=3, help="seconds of the first run per server (it sizes the pool)"
    )
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"sync workers per server (default {WORKERS}: deploy/gunicorn.conf.py's 2 per core)",
    )
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--calls", type=int, default=300, help="calls recorded to replay")
    ap.add_argument(
        "--redis-conf",
        type=Path,
        default=REDIS_CONF,
        help="the Redis configuration to run as (default: deploy/redis.conf)",
    )
    ap.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead of the load: cProfile N requests of the mix in-process",
    )
    ap.add_argument(
        "--load",
        choices=("auto", "python"),
        default="auto",
        help="auto: wrk (installed with apt-get when root), else Python threads",
    )
    args = ap.parse_args()
    WORKERS = args.workers

    failures: list[str] = []
    cleanups: list = []
    tmp = Path(tempfile.mkdtemp(prefix="onshore-bench-"))
    cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    try:
        load = run_wrk if args.load == "auto" and find_wrk() else run_python_load

        redis_conf = redis_args(args.redis_conf)
        redis_server = RedisServer(*redis_conf)
        cleanups.append(lambda: shutil.rmtree(redis_server.dir, ignore_errors=True))
        cleanups.append(redis_server.stop)
        redis_server.start()
        t0 = time.monotonic()
        generated = write_configuration(tmp / "flows")
        _, sources, errors = check_folder(tmp / "flows", "US")
        if errors:
            raise RuntimeError(f"the generated configuration does not check: {errors[:3]}")
        published = Store(connect(redis_server.url, timeout=30)).publish(sources, by="bench")
        rc = redis_server.client()
        print(
            f"redis-server :{redis_server.port} with {args.redis_conf.name}'s "
            f"{' '.join(redis_conf)}; flows/ + {len(generated)} generated numbers, "
            f"{len(sources.centers)} centers, {len(published)} flows checked and published "
            f"in {time.monotonic() - t0:.1f} s; {os.cpu_count()} CPU(s), {WORKERS} sync "
            f"workers per server, {args.connections} connections, load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )

        env = {
            "TWILIO_AUTH_TOKEN": TOKEN,
            "IVR_CALLER_HASH_KEY": HASH_KEY,
            "REDIS_URL": redis_server.url,
            "PUBLIC_BASE_URL": PUBLIC,
            "IVR_SPOOL_DIR": str(tmp / "spool"),
        }

        # -- Redis round trips: the app through the counting proxy, sequential requests --
        proxy = CountingProxy(redis_server.port)
        cleanups.append(proxy.close)
        proxy.start()
        probe = BenchGunicorn({**env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}, APPS[ONSHORE])
        servers = {name: BenchGunicorn(env, app) for name, app in APPS.items()}
        for server in (probe, *servers.values()):
            cleanups.append(server.cleanup)
            server.start()

        t0 = time.monotonic()
        if args.mix == "calls":
            scripts, bad, disclosed = record_calls(tmp, args.calls)
            if bad:
                failures.append(f"{len(bad)} recorded requests were not 200: {bad[0]}")
            carrying = sum(s[0].params["CallSid"] in step.path for s in scripts for step in s)
            print(
                f"recorded {len(scripts)} calls in-process in {time.monotonic() - t0:.1f} s "
                f"({sum(map(len, scripts))} requests, {carrying} of them with the CallSid "
                f"in the URL; {disclosed} calls heard a disclosure)",
                flush=True,
            )
        for server in (probe, *servers.values()):
            server.wait_ready()

        # Cold: at least COLD calls, and on until every worker has opened its connection
        # (the kernel, not gunicorn, picks which worker accepts), so the steady phase has no
        # first call of a worker in it.
        rt0, cmd0, conn0 = proxy.snapshot()
        bad, cold = [], 0
        while cold < COLD or (proxy.snapshot()[2] - conn0 < WORKERS and cold < 500):
            r = post_voice(probe.base_url)
            bad += [
                why for why in [check_answer(r.status_code, r.headers.get("Content-Type", ""), r.text)] if why
            ]
            cold += 1
        rt1, cmd1, conn1 = proxy.snapshot()
        xlen1 = rc.xlen(keys.EVENTS)  # before the INFO snapshot: not counted as the app's
        stats1 = commandstats(rc)
        for _ in range(SEQUENTIAL):
            r = post_voice(probe.base_url)
            bad += [
                why for why in [check_answer(r.status_code, r.headers.get("Content-Type", ""), r.text)] if why
            ]
        stats2 = commandstats(rc)
        xlen2 = rc.xlen(keys.EVENTS)
        rt2, cmd2, _ = proxy.snapshot()
        executed = stats2 - stats1
        executed["info"] = 0  # our own INFO calls
        executed += collections.Counter()  # drop zeros
        sent_steady, sent_cold = cmd2 - cmd1, cmd1 - cmd0
        events_per_call = (xlen2 - xlen1) / SEQUENTIAL
        redis_rt = (rt2 - rt1) / SEQUENTIAL
        if bad:
            failures.append(f"{len(bad)} of {cold + SEQUENTIAL} probe answers failed: {bad[0]}")
        probe.cleanup()
        proxy.close()
        if args.mix == "first":
            scripts = [[Step("POST", "/voice", call_params("CA" + "0" * 32), round(events_per_call))]]

        # a call recorded to generated number i is replayed to any number k = i (mod 20)
        pool = Pool(
            tmp / "pool.tsv", TOKEN, scripts, {generated[i]: generated[i::CLASSES] for i in range(CLASSES)}
        )

        if args.profile:
            profile(pool, redis_server.url, tmp / "profile-spool", args.profile + 200)
            return 0

        # -- sanity: signed answers are real, badly signed ones refused --
        first, count = pool.write(120)
        for name in (ONSHORE, NAIVE):
            bad = send_lines(servers[name].base_url, pool.path, first, count)
            if bad:
                failures.append(f"{name}: {len(bad)} of {count} sampled answers failed: {bad[0]}")
            forged = post_voice(servers[name].base_url, signature="bm90LWEtc2lnbmF0dXJl")
            if forged.status_code != 403:
                failures.append(f"{name}: a badly signed post got HTTP {forged.status_code}")

        # -- the first run sizes the pool: each round then gets 3x what the fastest
        # server sent in as long, so no round runs out --
        t0 = time.monotonic()
        warm = [pool.write(1500 * args.warmup) for _ in range(args.threads)]
        signing = time.monotonic() - t0
        fastest = max(
            load(s.base_url, pool.path, warm, args.warmup, args.connections)["rps"] for s in servers.values()
        )
        # 3x: this shared machine's speed changes by 2x from one minute to the next
        per_thread = int(fastest * args.duration * 3 / args.threads) + 500
        names = list(servers)
        rounds: list[dict[str, dict]] = []
        for i in range(args.rounds):
            t0 = time.monotonic()
            ranges = [pool.write(per_thread) for _ in range(args.threads)]
            signing += time.monotonic() - t0
            order = names[i % 3 :] + names[: i % 3]
            if i % 2:
                order.reverse()
            rounds.append(
                {
                    name: measure(servers[name], load, pool, ranges, args, redis_server.proc.pid, rc)
                    for name in order
                }
            )
            print(
                f"round {i + 1} ({' then '.join(order)}): "
                + ", ".join(f"{name} {rounds[-1][name]['rps']:.0f}/s" for name in names),
                flush=True,
            )

        first, count = pool.write(60)
        bad = send_lines(servers[ONSHORE].base_url, pool.path, first, count)
        if bad:
            failures.append(f"{len(bad)} of {count} answers sampled after the run failed: {bad[0]}")
        for r in rounds:
            for name, res in r.items():
                if res["non2xx"]:
                    failures.append(f"{name}: {res['non2xx']} non-2xx answers under load")
                if res["socket_errors"]:
                    failures.append(f"{name}: {res['socket_errors']} socket errors under load")
                if res["wraps"]:
                    failures.append(f"{name}: the signed pool ran out {res['wraps']} time(s)")
        onshore = [r[ONSHORE] for r in rounds]
        recorded = sum(r["events"] for r in onshore)
        expected = sum(r["expected"] for r in onshore)
        share = recorded / expected if expected else 0.0
        if abs(share - 1) > 0.02:
            failures.append(
                f"evidence {recorded} entries, {share:.1%} of the {expected} the "
                "sent requests write: some answers did not come from the normal "
                "Redis path"
            )
        log = servers[ONSHORE].output().splitlines()
        problems = [
            ln
            for ln in log
            if "redis unavailable" in ln.lower() or "Traceback" in ln or "WORKER TIMEOUT" in ln
        ]
        if problems:
            failures.append(f"{len(problems)} problem line(s) in the app's log: {problems[0]}")

        report(rounds, names, onshore, args, pool, load_name=onshore[0]["tool"])
        print(
            f"evidence written during the Onshore runs: {recorded} stream entries, "
            f"{share:.1%} of what the {sum(sum(r['sent']) for r in onshore)} sent requests "
            "write (as recorded when the calls were played)"
        )
        print(
            f"\nRedis per first webhook (POST /voice to {SUPPORT}, 9 fields), steady state "
            f"({SEQUENTIAL} sequential signed calls after {cold} cold ones, through a "
            "counting proxy):"
        )
        print(f"  round trips        {redis_rt:g}")
        print(
            f"  commands sent      {sum(sent_steady.values()) / SEQUENTIAL:g}   "
            f"({per_request(sent_steady, SEQUENTIAL)})"
        )
        print(
            f"  commands executed  {sum(executed.values()) / SEQUENTIAL:g}   "
            f"({per_request(executed, SEQUENTIAL)}; INFO commandstats, includes the "
            "evidence script's own commands)"
        )
        print(
            f"  cold: the first {cold} calls took {rt1 - rt0} round trips over "
            f"{conn1 - conn0} new connection(s); commands: {per_request(sent_cold, 1)}"
        )
        print(
            f"\nsigned {len(pool.events)} requests in {signing:.1f} s; total bench time "
            f"{time.monotonic() - t_start:.0f} s"
        )
        if failures:
            print("\nFAILED: these figures are not trustworthy:")
            for f in failures:
                print("  - " + f)
            return 1
        print(
            "checks passed: sampled answers 200 valid TwiML, forged signature 403, no "
            "non-2xx under load, the pool never ran out, evidence for every sent request"
        )
        return 0
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                print(f"cleanup: {exc}", file=sys.stderr)


def report(
    rounds: list[dict[str, dict]], names: list[str], onshore: list[dict], args, pool: Pool, load_name: str
) -> None:
    """The table per round and server, the mix, the ratios and the targets."""
    print()
    print(
        f"{'':26}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'requests':>9}{'non-2xx':>8}"
        f"{'sockerr':>8}{'recycled':>9}{'CPU/req':>9}{'Redis':>7}{'load':>6}"
    )
    for i, r in enumerate(rounds, 1):
        for name in names:
            res = r[name]
            print(
                f"{f'round {i}, {name}':26}{res['rps']:>8.0f}{res['p50']:>8.2f}"
                f"{res['p99']:>8.2f}{res['requests']:>9}{res['non2xx']:>8}"
                f"{res['socket_errors']:>8}{res['worker_restarts']:>9}"
                f"{res['cpu_workers_us']:>7.0f}us{res['cpu_redis_us']:>5.0f}us"
                f"{res['load']:>6.1f}"
            )
    print(
        "(CPU/req: the gunicorn workers' user+system time per request, recycled workers "
        "included, from /proc; Redis: redis-server's; load: the 1-minute load average)"
    )
    routes = sum((r["routes"] for r in onshore), collections.Counter())
    total = sum(routes.values())
    print(
        "mix sent to Onshore: " + ", ".join(f"{route} {n / total:.1%}" for route, n in routes.most_common())
    )
    to_base = [r[ONSHORE]["rps"] / r[BASELINE]["rps"] for r in rounds]
    to_naive = [r[ONSHORE]["rps"] / r[NAIVE]["rps"] for r in rounds]
    p99 = [r[ONSHORE]["p99"] / r[BASELINE]["p99"] for r in rounds]
    print(f"\nOnshore / bare Flask req/s: {spread(to_base)}")
    print(f"Onshore / naive stack req/s: {spread(to_naive)}")
    print(f"Onshore p99 / bare Flask p99: {spread(p99)}")
    quiet = min(range(len(rounds)), key=lambda i: rounds[i][ONSHORE]["load"])
    busy = max(range(len(rounds)), key=lambda i: rounds[i][ONSHORE]["load"])
    for label, i in (("quietest", quiet), ("busiest", busy)):
        print(
            f"{label} round ({i + 1}, load {rounds[i][ONSHORE]['load']:.1f}): "
            f"{to_base[i]:.3f} of bare Flask, {to_naive[i]:.2f}x the naive stack, "
            f"p99 {p99[i]:.2f}x"
        )
    for what, values, target, ok in (
        ("ratio to bare Flask", to_base, ">= 0.6", lambda v: v >= 0.6),
        ("ratio to the naive stack", to_naive, ">= 1.5", lambda v: v >= 1.5),
        ("p99 to bare Flask's", p99, "<= 2", lambda v: v <= 2),
    ):
        value = statistics.median(values)
        print(f"target {what} {target}: {value:.3f} {'met' if ok(value) else 'MISSED'}")
    print(
        f"({load_name}, -c{args.connections}, {args.duration} s per server per round, "
        f"{WORKERS} sync workers each, {os.cpu_count()} CPU(s) shared by load generator, "
        "gunicorn, Redis and whatever else runs on the machine)"
    )


if __name__ == "__main__":
    sys.exit(main())
