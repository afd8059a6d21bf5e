"""Speed benchmark for Onshore's "a call comes in" webhook (`make bench`).

What it does, all on private servers it starts and stops itself:

1. a redis-server on a free port (tests/servers.py), bench/flows/ checked and published to it;
2. Redis round trips per webhook: a gunicorn of the app whose REDIS_URL goes through a tiny
   counting TCP proxy gets 10 cold, then 200 sequential signed POST /voice; the proxy counts
   round trips (each time the client speaks after Redis did, or first) and the commands the
   client sent (RESP arrays); Redis's INFO commandstats counts what Redis executed, including
   the commands run inside the evidence script;
3. throughput: gunicorn of the app and gunicorn of bench/baseline_app.py (bare Flask, constant
   TwiML), identical settings (deploy/gunicorn.conf.py, 2 sync workers, access log to
   /dev/null), each driven by wrk -c16 with pre-signed Twilio posts, distinct CallSids;
   a short warm-up run first for each, then rounds that measure both servers one after the
   other (alternating which goes first); each round gives a ratio and the median is the
   figure, so a slow spell of this shared machine does not fall on one server only;
4. checks that make the numbers mean something: sampled answers are 200 valid TwiML with a
   disclosure or a bridge, a badly signed post gets 403, wrk saw no non-2xx answer, and Redis
   holds the evidence of every measured call (so no answer came from the Redis-down path).

Exit status 0 when every check passed, 1 otherwise. Everything started is stopped and every
temporary file removed, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import os
import re
import secrets
import shutil
import signal
import socket
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

from ivr.check import check_folder  # noqa: E402
from ivr.store import Store, connect, key  # noqa: E402
from tests.servers import Gunicorn, RedisServer, wait_for  # noqa: E402
from tests.twiml_check import assert_valid_twiml  # noqa: E402

TOKEN = secrets.token_hex(16)
HASH_KEY = secrets.token_hex(32)
SUPPORT = "+18005550100"
WORKERS = 2
# Identical for both servers; the conf's accesslog = "-" is overridden from the command line
# (gunicorn cannot switch it off from there, so both write it to /dev/null).
# Same for both servers. Workers are not recycled during a measurement (the production conf
# recycles every ~10,000 requests), so a restart neither costs one server a cold worker nor
# hides a worker's CPU time from the per-request figure.
GUNICORN_FLAGS = ["--access-logfile", "/dev/null", "--max-requests", "0"]
LUA = ROOT / "bench" / "voice.lua"
COLD, SEQUENTIAL = 10, 200


# -- signed requests -------------------------------------------------------------------------

def call_params(call_sid: str) -> dict[str, str]:
    """What Twilio posts to the voice URL when a call comes in (as ivr.caller.Phone does)."""
    return {
        "CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": "+12025550143",
        "To": SUPPORT, "FromCountry": "US", "ToCountry": "US", "Direction": "inbound",
        "CallStatus": "ringing", "ApiVersion": "2010-04-01",
    }


def new_sid() -> str:
    return "CA" + secrets.token_hex(16)


def signed(url: str, call_sid: str) -> tuple[str, str]:
    """(signature, urlencoded body) exactly as Twilio signs: URL + sorted params."""
    params = call_params(call_sid)
    return RequestValidator(TOKEN).compute_signature(url, params), urlencode(params)


def write_pool(path: Path, url: str, n: int) -> None:
    """n signed bodies with distinct CallSids, one "signature<TAB>body" a line."""
    validator = RequestValidator(TOKEN)
    with path.open("w") as f:
        for _ in range(n):
            params = call_params(new_sid())
            f.write(f"{validator.compute_signature(url, params)}\t{urlencode(params)}\n")


def post_voice(base_url: str, call_sid: str | None = None,
               signature: str | None = None) -> requests.Response:
    url = base_url + "/voice"
    sig, body = signed(url, call_sid or new_sid())
    return requests.post(url, data=body, timeout=5, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature if signature is not None else sig})


def check_answer(r: requests.Response) -> str:
    """'' when r is a 200 valid TwiML answer with a disclosure or a bridge, else why not."""
    if r.status_code != 200:
        return f"HTTP {r.status_code}"
    try:
        root = assert_valid_twiml(r.text, r.headers.get("Content-Type", ""))
    except (AssertionError, ET.ParseError) as exc:
        return f"invalid TwiML: {exc}"
    disclosed = any(e.tag == "Say" and "will be answered by our" in (e.text or "")
                    for e in root.iter())
    bridged = any(e.tag in ("Dial", "Enqueue") for e in root.iter())
    return "" if disclosed or bridged else "neither a disclosure nor a bridge: " + r.text[:200]


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU time the processes have used so far (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


# -- servers -----------------------------------------------------------------------------------

class BenchGunicorn(Gunicorn):
    """tests.servers.Gunicorn (same conf, env, workers) with the bench's flags and any app."""

    def __init__(self, env: dict[str, str], app: str) -> None:
        super().__init__(env, workers=WORKERS)
        self.app = app

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             *GUNICORN_FLAGS, self.app],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        wait_for(lambda: requests.get(self.base_url + "/healthz", timeout=1).ok,
                 timeout=20, what=f"gunicorn {self.app}")

    def workers(self) -> set[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(p) for p in path.read_text().split()}
        except OSError:
            return set()

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class CountingProxy:
    """TCP proxy to Redis counting round trips and the commands clients send.

    A round trip is counted each time a client sends after Redis last spoke on that
    connection (or for the first time): a pipeline of three commands written at once is one
    round trip, three commands each awaiting its reply are three.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.round_trips = 0
        self.connections = 0
        self.commands: collections.Counter[str] = collections.Counter()
        self.sockets: list[socket.socket] = []
        self.closed = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> tuple[int, collections.Counter[str], int]:
        with self.lock:
            return self.round_trips, collections.Counter(self.commands), self.connections

    def close(self) -> None:
        self.closed = True
        for s in [self.listener, *self.sockets]:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.connections += 1
                self.sockets += [client, upstream]
            state = {"last": "", "buf": b""}
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up, state),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool, state: dict) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:  # before forwarding: the other side cannot answer earlier
                    if up:
                        if state["last"] != "up":
                            self.round_trips += 1
                        state["buf"] = self._count(state["buf"] + data)
                    state["last"] = "up" if up else "down"
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _count(self, buf: bytes) -> bytes:
        """Count the complete RESP commands (arrays of bulk strings) in buf; keep the rest."""
        while buf:
            end = buf.find(b"\r\n")
            if end < 0 or buf[:1] != b"*":
                return buf
            pos, name = end + 2, ""
            for i in range(int(buf[1:end])):
                e = buf.find(b"\r\n", pos)
                if e < 0:
                    return buf
                start = e + 2
                stop = start + int(buf[pos + 1:e])
                if len(buf) < stop + 2:
                    return buf
                if i == 0:
                    name = buf[start:stop].decode(errors="replace").lower()
                pos = stop + 2
            self.commands[name] += 1
            buf = buf[pos:]
        return buf


def commandstats(client) -> collections.Counter[str]:
    return collections.Counter({k.removeprefix("cmdstat_"): v["calls"]
                                for k, v in client.info("commandstats").items()})


def per_request(counter: collections.Counter[str], n: int) -> str:
    return ", ".join(f"{name} {calls / n:g}" for name, calls in sorted(counter.items()))


# -- load -----------------------------------------------------------------------------------

def run_wrk(base_url: str, pool: Path, first: int, count: int, seconds: int, conns: int,
            threads: int) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(LUA),
           base_url + "/voice", "--", str(pool), str(first), str(count), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    if out.returncode != 0 or "BENCH " not in out.stdout:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("BENCH "))
    r = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    # wrk's own summary says the same; read it too so the two can never disagree silently.
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out.stdout)
    text_non2xx = int(m.group(1)) if m else 0
    if text_non2xx != r["non2xx"]:
        raise RuntimeError(f"wrk's summary and done() disagree on non-2xx: {out.stdout}")
    rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out.stdout).group(1))
    return {"rps": rps, "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "requests": r["requests"], "non2xx": r["non2xx"],
            "socket_errors": r["connect"] + r["read"] + r["write"] + r["timeout"],
            "wraps": r["wraps"], "tool": "wrk"}


def run_python_load(base_url: str, pool: Path, first: int, count: int, seconds: int,
                    conns: int, threads: int) -> dict:
    """Fallback when wrk is not available: one thread per connection, a new connection per
    request (gunicorn's sync workers close after each answer anyway). Python and the GIL
    cap what this can send, so its numbers are a floor, not comparable with wrk's."""
    del threads
    lines = pool.read_text().splitlines()[first:first + count]
    per = len(lines) // conns
    host, port = base_url.removeprefix("http://").split(":")
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0, "wraps": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(mine: list[str]) -> None:
        lat, bad, errs, wraps, i = [], 0, 0, 0, 0
        while time.monotonic() < deadline:
            if i == len(mine):
                i, wraps = 0, wraps + 1
            sig, body = mine[i].split("\t", 1)
            i += 1
            t0 = time.perf_counter()
            try:
                c = http.client.HTTPConnection(host, int(port), timeout=10)
                c.request("POST", "/voice", body, {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sig, "Connection": "close"})
                resp = c.getresponse()
                resp.read()
                c.close()
            except OSError:
                errs += 1
                continue
            lat.append(time.perf_counter() - t0)
            bad += not 200 <= resp.status < 400
        with lock:
            latencies.extend(lat)
            counts["non2xx"] += bad
            counts["errors"] += errs
            counts["wraps"] += wraps

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(lines[k * per:(k + 1) * per],))
          for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"rps": len(latencies) / elapsed, "p50": q[49] * 1000, "p99": q[98] * 1000,
            "requests": len(latencies), "non2xx": counts["non2xx"],
            "socket_errors": counts["errors"], "wraps": counts["wraps"],
            "tool": "python threads"}


def find_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install -y wrk", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if shutil.which("wrk"):
        return True
    print("wrk is not available: falling back to the Python load generator "
          "(its figures are lower bounds)", flush=True)
    return False


ONSHORE, BASELINE = "Onshore /voice", "bare Flask baseline"


def measure(server: BenchGunicorn, load, pool: Path, first: int, count: int, args,
            redis_server: RedisServer, rc) -> dict:
    """One measured load run against one server, with its workers' and Redis's CPU time
    per request and the evidence entries Redis gained meanwhile."""
    workers, xlen = server.workers(), rc.xlen(key("events"))
    assert redis_server.proc is not None
    redis_pid = {redis_server.proc.pid}
    cpu0 = cpu_seconds(workers), cpu_seconds(redis_pid)
    res = load(server.base_url, pool, first, count, args.duration, args.connections,
               args.threads)
    cpu1 = cpu_seconds(workers), cpu_seconds(redis_pid)
    res["cpu_workers_us"] = (cpu1[0] - cpu0[0]) / max(res["requests"], 1) * 1e6
    res["cpu_redis_us"] = (cpu1[1] - cpu0[1]) / max(res["requests"], 1) * 1e6
    res["worker_restarts"] = len(workers - server.workers())
    res["events"] = rc.xlen(key("events")) - xlen
    return res


# -- the benchmark ----------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=8,
                    help="seconds measured per server per round")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds, each measuring both servers; the median ratio is reported")
    ap.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="wrk threads")
    ap.add_argument("--pool", type=int, default=0,
                    help="signed bodies to pre-generate (default: 10,000 + 20,000 a round)")
    ap.add_argument("--load", choices=("auto", "python"), default="auto",
                    help="auto: wrk (installed with apt-get when root), else Python threads")
    args = ap.parse_args()
    args.pool = args.pool or 10_000 + 20_000 * args.rounds

    failures: list[str] = []
    cleanups: list = []
    tmp = Path(tempfile.mkdtemp(prefix="onshore-bench-"))
    cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t_start = time.monotonic()
    try:
        load = run_wrk if args.load == "auto" and find_wrk() else run_python_load

        redis_server = RedisServer()
        cleanups.append(lambda: shutil.rmtree(redis_server.dir, ignore_errors=True))
        cleanups.append(redis_server.stop)
        redis_server.start()
        _, sources, errors = check_folder(ROOT / "bench" / "flows", "US")
        if errors:
            raise RuntimeError(f"bench/flows/ does not check: {errors}")
        published = Store(connect(redis_server.url, timeout=5)).publish(sources, by="bench")
        rc = redis_server.client()
        print(f"redis-server :{redis_server.port}, published {published}; "
              f"{os.cpu_count()} CPU(s), {WORKERS} sync workers per server, "
              f"{args.connections} connections", flush=True)

        env = {"TWILIO_AUTH_TOKEN": TOKEN, "IVR_CALLER_HASH_KEY": HASH_KEY,
               "REDIS_URL": redis_server.url}

        # -- Redis round trips: the app through the counting proxy, sequential requests --
        proxy = CountingProxy(redis_server.port)
        cleanups.append(proxy.close)
        proxy.start()
        probe = BenchGunicorn({**env, "REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"},
                              "ivr:create_app()")
        app = BenchGunicorn(env, "ivr:create_app()")
        base = BenchGunicorn(env, "bench.baseline_app:create_app()")
        for server in (probe, app, base):
            cleanups.append(server.cleanup)
            server.start()
        for server in (probe, app, base):
            server.wait_ready()

        # Cold: at least COLD calls, and on until every worker has opened its two connections
        # (the webhook's own line, and the pool's that reads Redis's clock and the flows once;
        # the kernel, not gunicorn, picks which worker accepts), so the steady phase has no
        # first call of a worker in it.
        rt0, cmd0, conn0 = proxy.snapshot()
        bad, cold = [], 0
        while cold < COLD or (proxy.snapshot()[2] - conn0 < 2 * WORKERS and cold < 500):
            bad += [why for why in [check_answer(post_voice(probe.base_url))] if why]
            cold += 1
        rt1, cmd1, conn1 = proxy.snapshot()
        xlen1 = rc.xlen(key("events"))  # before the INFO snapshot: not counted as the app's
        stats1 = commandstats(rc)
        bad += [why for why in (check_answer(post_voice(probe.base_url))
                                for _ in range(SEQUENTIAL)) if why]
        stats2 = commandstats(rc)
        xlen2 = rc.xlen(key("events"))
        rt2, cmd2, conn2 = proxy.snapshot()
        executed = stats2 - stats1
        executed["info"] = 0  # our own INFO calls
        executed += collections.Counter()  # drop zeros
        sent_steady = cmd2 - cmd1
        sent_cold = cmd1 - cmd0
        events_per_call = (xlen2 - xlen1) / SEQUENTIAL
        redis_rt = (rt2 - rt1) / SEQUENTIAL
        redis_sent = sum(sent_steady.values()) / SEQUENTIAL
        redis_exec = sum(executed.values()) / SEQUENTIAL
        if bad:
            failures.append(f"{len(bad)} of {cold + SEQUENTIAL} probe answers failed: {bad[0]}")
        probe.cleanup()
        proxy.close()

        # -- sanity on the benchmarked app: signed answers are real, unsigned ones refused --
        bad = [why for why in (check_answer(post_voice(app.base_url)) for _ in range(50)) if why]
        if bad:
            failures.append(f"{len(bad)} of 50 sampled app answers failed: {bad[0]}")
        forged = post_voice(app.base_url, signature="bm90LWEtc2lnbmF0dXJl")
        if forged.status_code != 403:
            failures.append(f"a badly signed post got HTTP {forged.status_code}, not 403")
        bad = [why for why in (check_answer(post_voice(base.base_url)) for _ in range(20)) if why]
        if bad:
            failures.append(f"{len(bad)} of 20 sampled baseline answers failed: {bad[0]}")

        # -- load --
        pool = tmp / "voice-app.tsv"
        t0 = time.monotonic()
        write_pool(pool, app.base_url + "/voice", args.pool)
        print(f"signed {args.pool} distinct calls in {time.monotonic() - t0:.1f} s", flush=True)
        # Rounds alternate which server goes first, so a slow spell of this shared machine
        # weighs on both; each round gives a ratio, and the median ratio is the figure.
        warm_n = 10_000 if args.pool > 20_000 else args.pool // 6
        per_round = (args.pool - warm_n) // args.rounds
        servers = {ONSHORE: app, BASELINE: base}
        for server in servers.values():
            load(server.base_url, pool, 0, warm_n, args.warmup, args.connections, args.threads)
        rounds: list[dict[str, dict]] = []
        for i in range(args.rounds):
            order = [ONSHORE, BASELINE] if i % 2 == 0 else [BASELINE, ONSHORE]
            rounds.append({name: measure(servers[name], load, pool, warm_n + i * per_round,
                                         per_round, args, redis_server, rc)
                           for name in order})
            print(f"round {i + 1}: " + ", ".join(
                f"{name} {rounds[-1][name]['requests']} requests" for name in order), flush=True)

        onshore_runs = [r[ONSHORE] for r in rounds]
        bad = [why for why in (check_answer(post_voice(app.base_url)) for _ in range(20)) if why]
        if bad:
            failures.append(f"{len(bad)} of 20 app answers sampled after the run failed: {bad[0]}")
        for r in rounds:
            for name, res in r.items():
                if res["non2xx"]:
                    failures.append(f"{name}: {res['non2xx']} non-2xx answers under load")
                if res["socket_errors"]:
                    failures.append(f"{name}: {res['socket_errors']} socket errors under load")
        measured = sum(r["requests"] for r in onshore_runs)
        recorded_events = sum(r["events"] for r in onshore_runs)
        expected_events = measured * events_per_call
        recorded = recorded_events / expected_events if expected_events else 0.0
        wraps = sum(r["wraps"] for r in onshore_runs)
        if wraps:
            failures.append(f"the signed pool ran out {wraps} time(s): CallSids "
                            "repeated (raise --pool)")
        elif abs(recorded - 1) > 0.01:
            failures.append(f"evidence for {recorded:.1%} of the measured calls: some answers "
                            "did not come from the normal Redis path")
        log_problems = [ln for ln in app.output().splitlines()
                        if "redis unavailable" in ln or "Traceback" in ln or "bad signature" in ln]
        # exactly one "bad signature" line is ours (the forged post above)
        log_problems = [ln for ln in log_problems if "bad signature" not in ln] + \
            [ln for ln in log_problems if "bad signature" in ln][1:]
        if log_problems:
            failures.append(f"{len(log_problems)} problem line(s) in the app's log: "
                            f"{log_problems[0]}")

        # -- report --
        print()
        print(f"{'':30}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}"
              f"{'non-2xx':>9}{'sock err':>9}{'restarts':>9}{'CPU/req':>9}{'Redis':>7}")
        for i, r in enumerate(rounds, 1):
            for name in (ONSHORE, BASELINE):
                res = r[name]
                print(f"{f'round {i}, {name}':30}{res['rps']:>11.1f}{res['p50']:>9.2f}"
                      f"{res['p99']:>9.2f}{res['requests']:>10}{res['non2xx']:>9}"
                      f"{res['socket_errors']:>9}{res['worker_restarts']:>9}"
                      f"{res['cpu_workers_us']:>7.0f}us{res['cpu_redis_us']:>5.0f}us")
        print("(CPU/req: the gunicorn workers' user+system time per request, from /proc; "
              "Redis: redis-server's)")
        ratios = [r[ONSHORE]["rps"] / r[BASELINE]["rps"] for r in rounds]
        tool = onshore_runs[0]["tool"]
        print(f"\nOnshore/baseline requests/s: {statistics.median(ratios):.3f} (median of "
              f"{len(ratios)} rounds: {', '.join(f'{x:.3f}' for x in ratios)}; {tool}, "
              f"-c{args.connections}, {args.duration} s per server per round after "
              f"{args.warmup} s warm-up, {WORKERS} sync workers each, "
              f"{os.cpu_count()} CPU(s) shared by load generator, gunicorn and Redis)")
        print(f"evidence written during the Onshore runs: {recorded_events} stream entries = "
              f"{recorded:.1%} of {measured} calls x {events_per_call:g} events "
              f"(a little over 100%: calls in flight when the load stopped are answered but "
              f"not counted)")
        print(f"\nRedis per POST /voice, steady state ({SEQUENTIAL} sequential signed calls "
              f"after {cold} cold ones, through a counting proxy):")
        print(f"  round trips        {redis_rt:g}")
        print(f"  commands sent      {redis_sent:g}   ({per_request(sent_steady, SEQUENTIAL)})")
        print(f"  commands executed  {redis_exec:g}   ({per_request(executed, SEQUENTIAL)}; "
              "INFO commandstats, includes the evidence script's own commands)")
        print(f"  cold: the first {cold} calls took {rt1 - rt0} round trips "
              f"({rt1 - rt0 - round(redis_rt * cold)} more than steady state) over "
              f"{conn1 - conn0} new connection(s), two per worker; commands: "
              f"{per_request(sent_cold, 1)}")
        print(f"\ntotal bench time {time.monotonic() - t_start:.0f} s")
        if failures:
            print("\nFAILED: these figures are not trustworthy:")
            for f in failures:
                print("  - " + f)
            return 1
        print("checks passed: sampled answers 200 valid TwiML with disclosure/bridge, forged "
              "signature 403, no non-2xx under load, evidence for every measured call")
        return 0
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001 - keep cleaning
                print(f"cleanup: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
