"""The set-up the in-process benchmarks share: a private redis-server with bench/flows/
published, the app over it, and signed Twilio posts as WSGI environs.

The app's WSGI callable is driven directly (no HTTP server, no test client: only what a
gunicorn worker runs per request), so a benchmark reads its own CPU time around a batch and
Redis's work is not counted.
"""

from __future__ import annotations

import io
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

from ivr import create_app  # noqa: E402
from ivr.check import check_folder  # noqa: E402
from ivr.store import Store, connect  # noqa: E402
from tests.servers import RedisServer, wait_for  # noqa: E402

TOKEN = secrets.token_hex(16)
SUPPORT = "+18005550100"

# A call in progress to SUPPORT as Twilio posts it (add the CallSid and any status fields).
CALL = {
    "AccountSid": "AC" + "0" * 32,
    "From": "+12025550143",
    "To": SUPPORT,
    "FromCountry": "US",
    "Direction": "inbound",
    "CallStatus": "in-progress",
}


def disclose_step(version: int) -> dict[str, str]:
    """The query of the bench flow's disclosure answer before Manila (pressed 1)."""
    return {"f": "bench", "v": str(version), "s": "disclose", "c": "manila", "t": "manila"} | {
        "h": "Manila|PH",
        "n": "1",
    }


def environ(path: str, params: dict[str, str]) -> Callable[[], dict[str, Any]]:
    """A fresh WSGI environ of this signed post to http://bench.local{path}, each call."""
    body = urlencode(params).encode()
    signature = RequestValidator(TOKEN).compute_signature(f"http://bench.local{path}", params)
    script, _, query = path.partition("?")
    fixed = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": script,
        "QUERY_STRING": query,
        "SERVER_NAME": "bench.local",
        "SERVER_PORT": "80",
        "HTTP_HOST": "bench.local",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_TWILIO_SIGNATURE": signature,
    }
    return lambda: {**fixed, "wsgi.input": io.BytesIO(body)}


@contextmanager
def published_app() -> Iterator[tuple[RedisServer, Any, int]]:
    """(server, app, version of the bench flow) on a private redis-server, stopped and
    removed afterwards whatever happens."""
    server = RedisServer()
    server.start()
    try:
        wait_for(lambda: server.client().ping(), what="redis-server")
        _, sources, errors = check_folder(ROOT / "bench" / "flows", "US")
        assert not errors, errors
        version = Store(connect(server.url, timeout=5)).publish(sources, by="bench")["bench"]
        app = create_app(
            {
                "testing": True,
                "auth_token": TOKEN,
                "caller_hash_key": "bench",
                "redis_url": server.url,
                "spool_dir": str(Path(server.dir) / "spool"),
            }
        )
        yield server, app, version
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
