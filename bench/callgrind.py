"""Instruction counts with valgrind's callgrind, for benches that must not depend on how
busy the machine is: an instruction count is the same on a quiet machine and a loaded one.

- ``Marks``: a Python process started under ``valgrind --tool=callgrind
  --collect-atstart=no`` counts only what runs between ``start()`` and ``stop()`` (two
  callgrind client requests in a tiny C library compiled on first use; outside valgrind
  they do nothing), and ``stop()`` returns that count;
- ``CountedRedis``: a redis-server under callgrind that counts only the instructions it
  spends reading, running and answering commands (``processInputBuffer`` and
  ``writeToClient``, not its timers: serverCron's work depends on the wall clock), and
  dumps the count each time it runs ``ECHO``, so a client brackets what it wants counted
  with two ECHOs.

See https://valgrind.org/docs/manual/cl-manual.html (client requests, --toggle-collect,
--dump-before).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from tests.servers import free_port  # noqa: E402

_MARKS_C = r"""
#include <valgrind/callgrind.h>
void marks_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT; }
void marks_stop(void) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; }
"""
_TOTALS = re.compile(rb"^totals:\s+(\d+)", re.MULTILINE)


def missing() -> str:
    """What this machine lacks to count instructions ("" when nothing)."""
    for tool in ("valgrind", "cc"):
        if shutil.which(tool) is None:
            return f"{tool} (apt-get install valgrind gcc)"
    if not Path("/usr/include/valgrind/callgrind.h").exists():
        return "valgrind's headers (/usr/include/valgrind/callgrind.h)"
    return ""


def valgrind(out: Path, *options: str) -> list[str]:
    """The command prefix that runs a program under callgrind, dumps named ``out.PID.N``."""
    return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}.%p", *options]


def totals(path: Path) -> int:
    """The instruction count of one callgrind dump."""
    found = _TOTALS.search(path.read_bytes())
    if found is None:
        raise RuntimeError(f"{path}: no totals line")
    return int(found.group(1))


def dumps(out: Path, pid: int) -> list[Path]:
    """The numbered dumps of one process, in order (``out.PID.1``, ``out.PID.2``, ...)."""
    found = [(int(p.name.rsplit(".", 1)[1]), p) for p in out.parent.glob(f"{out.name}.{pid}.*")]
    return [p for _, p in sorted(found)]


class Marks:
    """Count the instructions of a stretch of this process (run under callgrind with
    ``--collect-atstart=no``)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        folder = Path(tempfile.mkdtemp(prefix="onshore-marks-"))
        source, lib = folder / "marks.c", folder / "marks.so"
        source.write_text(_MARKS_C)
        subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
        self._lib = ctypes.CDLL(str(lib))

    def start(self) -> None:
        self._lib.marks_start()

    def stop(self) -> int:
        """The instructions since ``start()``."""
        self._lib.marks_stop()
        return totals(dumps(self.out, os.getpid())[-1])  # this process's newest dump


class CountedRedis:
    """A redis-server under callgrind, without persistence, on a free port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.dir = folder / f"redis-{self.port}"
        self.dir.mkdir(parents=True)
        self.out = self.dir / "callgrind"
        command = valgrind(
            self.out,
            "--collect-atstart=no",
            "--toggle-collect=processInputBuffer",
            "--toggle-collect=writeToClient",
            "--dump-before=echoCommand",
        )
        self.proc = subprocess.Popen(
            [*command, "redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                self.client().ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server under valgrind did not start") from None
                time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=300)

    def counts(self) -> list[int]:
        """The instructions between each ECHO and the one before (the first: since start)."""
        return [totals(p) for p in dumps(self.out, self.proc.pid)]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
