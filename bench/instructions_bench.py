"""CPU instructions per webhook, which a loaded machine does not move the way it moves CPU
time: `.venv/bin/python bench/instructions_bench.py [N]` (needs valgrind; a few minutes).

Runs this script's own worker (``--drive``) twice under ``valgrind --tool=callgrind``, side
by side: both sign the same N + 40 webhooks (a "call comes in" ``/voice`` and its status
callback, in turn, each a new call) and send 40 through the app's WSGI callable of
``bench/in_process.py`` (a private redis-server, ``bench/flows/`` published) to warm up;
one then sends the other N. Prints the difference divided by N. Redis's side is not
counted (redis-server is not traced). Compare two trees by running the script of each.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WARM = 40  # webhooks before the counted ones: connections, script load, first turns


def drive(n: int, built: int) -> None:
    """Sign ``built`` webhooks (both runs sign as many: signing is not the app's cost), send
    the first WARM + n."""
    from bench.in_process import SUPPORT, environ, published_app

    with published_app() as (_, app, _version):
        wsgi = app.wsgi_app
        posts = []
        for _ in range((WARM + built) // 2 + 1):
            base = {
                "CallSid": "CA" + secrets.token_hex(16),
                "AccountSid": "AC" + "0" * 32,
                "From": "+12025550143",
                "To": SUPPORT,
                "Caller": "+12025550143",
                "Called": SUPPORT,
                "FromCountry": "US",
                "ToCountry": "US",
                "FromState": "DC",
                "FromCity": "WASHINGTON",
                "FromZip": "20001",
                "Direction": "inbound",
                "ApiVersion": "2010-04-01",
            }
            posts.append(environ("/voice", {**base, "CallStatus": "ringing"}))
            status = {"CallStatus": "completed", "CallDuration": "31", "SequenceNumber": "0"}
            posts.append(
                environ("/voice/status", {**base, **status, "CallbackSource": "call-progress-events"})
            )
        for make in posts[: WARM + n]:  # the environs are made before: only the app counts
            b"".join(wsgi(make(), lambda status, headers: None))


def instructions(runs: list[tuple[int, int]]) -> list[int]:
    """Instructions of each run (n sent, built signed), the runs side by side."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            subprocess.Popen(
                [
                    "valgrind",
                    "--tool=callgrind",
                    f"--callgrind-out-file={tmp}/out{i}",
                    sys.executable,
                    __file__,
                    "--drive",
                    str(n),
                    str(built),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i, (n, built) in enumerate(runs)
        ]
        errs = [proc.communicate()[1] for proc in procs]
    counts = []
    for err in errs:
        found = re.search(r"Collected : (\d+)", err)
        if found is None:
            raise RuntimeError(f"no instruction count from callgrind:\n{err[-2000:]}")
        if "redis unavailable" in err:
            print("note: a webhook met the Redis deadline under valgrind (its fallback path was counted)")
        counts.append(int(found.group(1)))
    return counts


def main() -> int:
    if sys.argv[1:2] == ["--drive"]:
        drive(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with_n, without = instructions([(n, n), (0, n)])
    per = (with_n - without) / n / 1e6
    print(f"{per:.3f} M instructions per webhook ({n} webhooks: /voice and status in turn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
