"""`make run` and `make stop` (deploy/run.sh, deploy/stop.sh) as the README's walkthrough uses
them: in a copy of the repository, on free ports, and never touching the machine's own Redis
on 127.0.0.1:6379 (read there only, to compare before and after)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import redis
import requests

from ivr import keys
from tests.servers import ROOT, free_port, wait_for

COPIED = ("deploy", "flows", "ivr", "pyproject.toml")


def _machine_redis() -> tuple[int, dict, list] | None:
    """DBSIZE, INFO keyspace's counts and the key names of the machine's Redis on 6379,
    read only; None without one."""
    try:
        client = redis.Redis(port=6379, socket_timeout=1, socket_connect_timeout=1)
        counts = {db: (v["keys"], v["expires"]) for db, v in client.info("keyspace").items()}
        return int(client.dbsize()), counts, sorted(client.scan_iter(count=1000))
    except (redis.RedisError, OSError):
        return None


def _dev_env(clone: Path) -> dict[str, str]:
    """`set -a; . .run/dev.env` as the README says: the environment the walkthrough runs in."""
    lines = (clone / ".run" / "dev.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _alive(pid: int) -> bool:
    """Running, not a zombie (gunicorn is this test's child until it is waited for)."""
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False


def test_the_walkthrough_uses_the_private_redis_and_make_stop_stops_it(tmp_path):
    clone = tmp_path / "onshore"
    clone.mkdir()
    for name in COPIED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, clone / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, clone / name)
    (clone / ".venv").symlink_to(Path(sys.executable).parent.parent)
    redis_port, web_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "IVR_CALLER_HASH_KEY")
    }
    env.update(
        ONSHORE_REDIS_PORT=str(redis_port),
        BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY="1",
        PYTHONPATH=str(clone),
    )
    before = _machine_redis()
    log = (tmp_path / "run.log").open("w")
    run = subprocess.Popen(
        ["bash", "deploy/run.sh"],
        cwd=clone,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1).ok,
            timeout=60,
            what="make run",
        )
        dev = _dev_env(clone)
        assert dev["REDIS_URL"] == f"redis://127.0.0.1:{redis_port}/0"
        walk = {**env, **dev}
        ivr = str(clone / ".venv" / "bin" / "ivr")
        loaded = subprocess.run(
            [ivr, "load", "flows", "-m", "walkthrough"],
            cwd=clone,
            env=walk,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert loaded.returncode == 0, loaded.stderr
        called = subprocess.run(
            [ivr, "call", "+18885550199", "--say", "agente"],
            cwd=clone,
            env=walk,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert called.returncode == 0, called.stderr
        served = subprocess.run(
            [ivr, "call", "+18005550100", "--url", f"http://127.0.0.1:{web_port}", "--press", "1,1"],
            cwd=clone,
            env=walk,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert served.returncode == 0 and "bridged to" in served.stdout, served.stderr
        private = redis.Redis(port=redis_port, socket_timeout=2)
        assert private.exists(keys.NUMBERS) and private.xlen(keys.EVENTS) > 0
        assert _machine_redis() == before  # the machine's own Redis saw nothing written
        pids = [int((clone / ".run" / f"{n}.pid").read_text()) for n in ("gunicorn", "redis")]
        stopped = subprocess.run(
            ["bash", "deploy/stop.sh"], cwd=clone, capture_output=True, text=True, timeout=30
        )
        assert stopped.returncode == 0, stopped.stderr
        assert "stopped gunicorn" in stopped.stdout and "redis-server" in stopped.stdout
        wait_for(lambda: not any(_alive(p) for p in pids), timeout=10, what="make stop")
        assert not (clone / ".run" / "redis.pid").exists()
    finally:
        subprocess.run(["bash", "deploy/stop.sh"], cwd=clone, capture_output=True, timeout=30)
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        log.close()
