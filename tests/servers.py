"""Real servers for the tests: a private redis-server and gunicorn, on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import redis
import requests

from ivr.breaker import MAX_DELAY

ROOT = Path(__file__).resolve().parent.parent
BOOT = 30.0  # seconds a server may take to come up before a test gives up on it
REDIS_CONF = ROOT / "deploy" / "redis.conf"


def deployed_redis_args(conf: Path = REDIS_CONF) -> list[str]:
    """deploy/redis.conf as redis-server arguments, read now (it may change), except what
    only fits the deployment: where files go, the address and the ACL file."""
    out: list[str] = []
    for line in conf.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] not in ("dir", "bind", "port", "aclfile"):
            out += ["--" + words[0], *words[1:]]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check, timeout: float = 10.0, what: str = "server") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class RedisServer:
    """A redis-server the tests own: they may stop, kill and restart it."""

    def __init__(self, *extra: str) -> None:
        self.extra = extra  # more redis-server arguments, e.g. an ACL file
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="onshore-redis-")
        self.proc: subprocess.Popen | None = None
        self.disturbed = False  # paused or killed since a test last waited for the breakers

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, **auth: str) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, **auth)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(
            lambda: (
                redis.Redis(port=self.port, socket_timeout=2).ping() or True
                if not self.extra
                else _listening(self.port)
            ),
            what="redis-server",
        )

    def pause(self) -> None:
        """SIGSTOP: Redis hangs; connections are accepted but nothing answers."""
        assert self.proc is not None
        self.disturbed = True
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        self.disturbed = True
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        self.kill()

    def settle(self) -> None:
        """After a pause or a kill, wait out the app's circuit breakers (ivr.breaker): then
        every worker's next call probes Redis, and is answered as normal."""
        if self.disturbed:
            time.sleep(MAX_DELAY)
            self.disturbed = False


class DelayingProxy:
    """A TCP relay in front of a server that can hold back the server's replies: Redis runs
    each command at once, and its reply reaches the client ``delay`` seconds later (a
    reply lost in a stall, as when Redis hangs right after running a command)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port, self.delay = upstream_port, 0.0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for a, b, replies in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pipe, args=(a, b, replies), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket, replies: bool) -> None:
        try:
            while data := a.recv(65536):
                if replies and self.delay:
                    time.sleep(self.delay)
                b.sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()

    def close(self) -> None:
        self.sock.close()


def terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Gunicorn:
    """The app served exactly as in production: gunicorn with deploy/gunicorn.conf.py."""

    def __init__(self, env: dict[str, str], workers: int = 2) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            **env,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "LOG_LEVEL": "warning",
        }
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="onshore-gunicorn-", suffix=".log", delete=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "ivr:create_app()",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        # a bound, not a speed test: on a loaded 2-core machine three servers booting at once
        # took longer than 10 s (the app imports and the config check in the master)
        wait_for(lambda: requests.get(self.base_url + "/healthz", timeout=1).ok, BOOT, what="gunicorn")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
        self.log.close()  # the file stays: output() reads it by name


def accepted_inode(server_port: int, client: socket.socket) -> int:
    """The inode of the server's end of this client's local connection (/proc/net/tcp): 0 while
    the connection waits in the listener's backlog, the socket's inode once a process accepted it."""
    port = client.getsockname()[1]
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(a.split(":")[1], 16) for a in fields[1:3])
        if local == server_port and remote == port:
            return int(fields[9])
    return 0


def hold_a_worker(gunicorn: Gunicorn) -> socket.socket:
    """Keep one of gunicorn's sync workers busy until the returned socket is closed.

    A connection whose request headers never end blocks the worker that accepted it, so
    every other request goes to the other worker. This returns once a worker has accepted
    the connection (its end has an inode), not after a guessed delay: on a loaded machine a
    worker can take longer than any fixed sleep to come back to accept(), and a hold still
    in the backlog may then be taken by the worker meant to stay free. Holds must stay well
    under gunicorn's 5 s worker timeout.
    """
    s = socket.create_connection(("127.0.0.1", gunicorn.port), timeout=2)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: unfinished
        wait_for(lambda: accepted_inode(gunicorn.port, s) != 0, what="a worker accepting the held connection")
    except BaseException:
        s.close()
        raise
    return s


def on_each_worker(gunicorn: Gunicorn, action: Callable[[], object]) -> None:
    """Run action() once on each of gunicorn's two workers."""
    first = hold_a_worker(gunicorn)
    try:
        action()  # served by the worker that is not holding `first`
        second = hold_a_worker(gunicorn)  # accepted by that same worker: the other is blocked
    finally:
        first.close()
    try:
        action()  # served by the worker that held `first`
    finally:
        second.close()


def dump_redis(client: redis.Redis) -> str:
    """Every key and every value in Redis, as text, in a stable order."""
    parts = []
    for key in sorted(client.scan_iter(count=1000)):
        kind = client.type(key).decode()
        if kind == "string":
            value = [client.get(key)]
        elif kind == "hash":
            value = [x for kv in sorted(client.hgetall(key).items()) for x in kv]
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "zset":
            value = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            value = [x for id_, entry in client.xrange(key) for x in (id_, *entry.keys(), *entry.values())]
        else:
            raise AssertionError(f"unexpected type {kind} of {key!r}")
        parts.append(f"{kind} {key.decode('utf-8', 'replace')}")
        parts += [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in value]
    return "\n".join(parts)


NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
)  # root's PATH only


class Nginx:
    """deploy/nginx as shipped, in front of a gunicorn: the template rendered as the nginx
    image renders it (its ${VARS} substituted), TLS with a self-signed certificate for
    127.0.0.1, everything in a private folder, on free ports."""

    def __init__(self, upstream: str) -> None:
        self.port, self.http_port = free_port(), free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="onshore-nginx-"))
        self.upstream = upstream
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert(self) -> str:
        return str(self.dir / "fullchain.pem")

    def render(self) -> Path:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(self.dir / "privkey.pem"),
                "-out",
                self.cert,
            ],
            check=True,
            capture_output=True,
        )
        values = {
            "PUBLIC_HOST": "127.0.0.1",
            "ONSHORE_UPSTREAM": self.upstream,
            "LISTEN_HTTPS": f"127.0.0.1:{self.port}",
            "LISTEN_HTTP": f"127.0.0.1:{self.http_port}",
            "TLS_DIR": str(self.dir),
            "ONSHORE_PROXY_CONF": str(ROOT / "deploy" / "nginx" / "onshore-proxy.conf"),
        }
        text = (ROOT / "deploy" / "nginx" / "onshore.conf.template").read_text()
        for name, value in values.items():  # envsubst touches only the variables it is given
            text = text.replace("${" + name + "}", value)
        (self.dir / "onshore.conf").write_text(text)
        user = "user root;\n" if os.geteuid() == 0 else ""
        main = self.dir / "nginx.conf"
        main.write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
            f"error_log {self.dir}/error.log warn;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n  access_log {self.dir}/access.log;\n"
            + "".join(
                f"  {kind}_temp_path {self.dir}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {self.dir}/onshore.conf;\n}}\n"
        )
        return main

    def start(self) -> None:
        main = self.render()
        assert NGINX is not None, "nginx is not installed"
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        wait_for(
            lambda: requests.get(self.base_url + "/healthz", timeout=1, verify=self.cert).ok, what="nginx"
        )

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
