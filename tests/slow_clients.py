"""The slow-client attack of issue 10, shared by tests/test_proxy.py and bench/slow_client_bench.py.

Clients that open a webhook request and never finish it: ``STALLS`` of them send their
headers and part of a declared body (half with a forged X-Twilio-Signature, so the app's
cheap refusal of unsigned posts does not stop them early), one declares
``Content-Length: 1000000`` and sends 10 bytes. Meanwhile signed webhooks run; what each
stalled client finally got is read back.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

STALLS = 8


def open_stalled(
    base_url: str, declared: int, sent: bytes, forged: bool, cafile: str | None = None
) -> socket.socket:
    """A connection that sent a webhook's headers and ``sent`` of a ``declared``-byte body."""
    url = urlsplit(base_url)
    sock = socket.create_connection((url.hostname, url.port or 80), timeout=30)
    if url.scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        sock = context.wrap_socket(sock, server_hostname=url.hostname)
    signature = "X-Twilio-Signature: Zm9yZ2VkIHNpZ25hdHVyZQ==\r\n" if forged else ""
    sock.sendall(
        (
            f"POST /voice HTTP/1.1\r\nHost: {url.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {declared}\r\n{signature}\r\n"
        ).encode()
        + sent
    )
    return sock


def outcome(sock: socket.socket, within: float) -> str:
    """The status code the server finally answered, or "closed" / "still open"."""
    sock.settimeout(within)
    try:
        head = sock.recv(64)
    except TimeoutError:
        return "still open"
    except OSError:
        return "closed"
    finally:
        sock.close()
    if not head:
        return "closed"
    return head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "garbage"


def attack(
    base_url: str,
    signed_webhook: Callable[[int], int],
    webhooks: int = 100,
    threads: int = 4,
    cafile: str | None = None,
    stalls: int = STALLS,
) -> tuple[list[tuple[int, float]], dict[str, str]]:
    """Open the stalled clients (none when ``stalls`` is 0), run ``webhooks`` signed
    webhooks on ``threads`` threads (``signed_webhook(i)`` sends the i-th and gives its
    status), then read what each stalled client got. Returns [(status, seconds)] and {client: outcome}."""
    stalled = {
        f"slow body {i}{' forged' if i % 2 else ''}": open_stalled(
            base_url, 200, b"CallSid=CA", bool(i % 2), cafile
        )
        for i in range(stalls)
    }
    if stalls:
        stalled["declares 1000000, sends 10"] = open_stalled(base_url, 1_000_000, b"CallSid=CA", True, cafile)
    results: list[tuple[int, float]] = []
    lock = threading.Lock()
    numbers = iter(range(webhooks))

    def run() -> None:
        while True:
            with lock:
                i = next(numbers, None)
            if i is None:
                return
            start = time.monotonic()
            status = signed_webhook(i)
            with lock:
                results.append((status, time.monotonic() - start))

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, {name: outcome(sock, 10.0) for name, sock in stalled.items()}


def percentile(seconds: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of a list of durations."""
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
