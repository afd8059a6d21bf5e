"""What a webhook reads of a request, and how little it reads before the signature says
the request is Twilio's.

A sync gunicorn worker serves one request at a time, so every byte it waits for before the
signature check is time no call gets. The order, cheapest first (``refusal``): the path and
method, a non-empty ``X-Twilio-Signature`` header, a url-encoded body (Twilio posts nothing
else), a declared length no larger than ``MAX_BODY``; only then is the body read, within
``READ_DEADLINE`` whatever the client trickles, and decoded once (``posted_pairs``: refused
unless a large one is the kind of form Twilio posts), for both the signature and the form.
A deployment puts nginx in front (deploy/nginx/), which buffers the whole body before
gunicorn sees a byte; these bounds are what holds when it does not.
"""

from __future__ import annotations

import binascii
import re
import signal
import socket
import threading
from functools import lru_cache
from typing import IO, Any
from urllib.parse import unquote

from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, RequestEntityTooLarge, RequestTimeout
from werkzeug.sansio.utils import get_host

# Twilio's voice posts are 1-3 kB (the parameters of ivr.parameters; AddOns results are the
# largest); 64 KiB leaves room for those and bounds what a forgery costs to decode.
MAX_BODY = 64 * 1024
# Twilio sends the whole post at once; behind nginx it arrives from memory. A client that
# has not sent its declared body by then is not Twilio.
READ_DEADLINE = 1.0
# Twilio sends well under a hundred parameters (ivr.parameters); a post of thousands of
# tiny pairs would cost a worker per pair.
MAX_PARAMETERS = 256
PLAIN_UP_TO = 4096  # bytes of body decoded the plain way (at most about 0.5 ms of escapes)
FORM = "application/x-www-form-urlencoded"


class TwilioRequest:
    """What a webhook reads of a request, taken straight from the WSGI environ: werkzeug's
    request object, form parser and multi-dicts cost about 50 µs a webhook here, for posts
    that are always a small url-encoded form, and its request keeps itself in the environ,
    a reference cycle that left every webhook's garbage to the cycle collector. Names and
    values are decoded exactly as werkzeug decodes them (a test holds the two together on
    generated bodies and query strings). Reading the body may raise an HTTPException
    (too large, too slow, shorter than declared, not a form Twilio would post)."""

    __slots__ = ("environ", "method", "path", "pairs", "form", "args")

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.method: str = environ.get("REQUEST_METHOD", "GET")
        self.path: str = environ.get("PATH_INFO", "")
        self.pairs = posted_pairs(read_body(environ)) if self.method == "POST" else []
        self.form = _first_values(self.pairs)
        self.args = _first_values(_decoded_pairs(environ.get("QUERY_STRING", "").encode("latin1")))

    @property
    def target(self) -> str:
        """Path and query string exactly as requested: Twilio signs them undecoded."""
        environ = self.environ
        query = environ.get("QUERY_STRING")
        return str(environ.get("SCRIPT_NAME", "")) + self.path + (f"?{query}" if query else "")

    @property
    def full_path(self) -> str:
        """The path and query string, as werkzeug's ``full_path`` gives them."""
        return f"{self.path}?{self.environ.get('QUERY_STRING', '')}"

    @property
    def origin(self) -> str:
        """Scheme and host of the URL requested, as werkzeug gives them."""
        environ = self.environ
        scheme = environ.get("wsgi.url_scheme", "http")
        server: tuple[str, int | None] | None = None
        if "SERVER_NAME" in environ:
            port = str(environ.get("SERVER_PORT", ""))
            server = (environ["SERVER_NAME"], int(port) if port.isdigit() else None)
        return f"{scheme}://{_host(scheme, environ.get('HTTP_HOST'), server)}"


# A server answers to a handful of names; the Host header is the client's choice, so the
# cache is bounded by count (and gunicorn bounds each header at 8 kB).
_host = lru_cache(maxsize=64)(get_host)


def refusal(environ: dict[str, Any]) -> HTTPException | None:
    """Why a post to a webhook URL is refused before a byte of its body is read."""
    if not environ.get("HTTP_X_TWILIO_SIGNATURE"):
        return Forbidden()
    if environ.get("REQUEST_METHOD") != "POST":  # a GET status callback has no body
        return None
    content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if content_type != FORM:  # Twilio posts url-encoded forms only
        return Forbidden()
    if _declared_length(environ) > MAX_BODY:
        return RequestEntityTooLarge()
    return None


def _declared_length(environ: dict[str, Any]) -> int:
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:  # werkzeug reads no body then either
        return 0


def read_body(environ: dict[str, Any]) -> bytes:
    """The declared body, read within READ_DEADLINE on gunicorn (whose socket is in the
    environ), never more than MAX_BODY; a body shorter than declared is refused."""
    length = min(_declared_length(environ), MAX_BODY)
    if not length or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM:
        return b""
    stream, sock = environ["wsgi.input"], environ.get("gunicorn.socket")
    if sock is None:  # a test client or another server: its own timeouts apply
        return _read(stream, length)
    before = sock.gettimeout()
    # The socket timeout bounds each wait for bytes (a stalled client); the timer bounds
    # the whole read (a client that trickles a byte at a time), where signals can be had:
    # gunicorn's sync worker serves requests on its main thread.
    sock.settimeout(READ_DEADLINE)
    timer = threading.current_thread() is threading.main_thread()
    if timer:
        handler = signal.signal(signal.SIGALRM, _too_slow)
        signal.setitimer(signal.ITIMER_REAL, READ_DEADLINE)
    try:
        return _read(stream, length)
    except TimeoutError as exc:
        raise RequestTimeout() from exc
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, handler)
        sock.settimeout(before)


def stop_reading(environ: dict[str, Any]) -> None:
    """Read nothing more from a refused client: gunicorn lingers up to 2 s after its answer
    for the client to close (``util.close_graceful``); a reading side shut now ends that
    wait at once instead of giving a stalled client two more seconds of the worker."""
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RD)
        except OSError:  # already gone
            pass


def _too_slow(signum: int, frame: object) -> None:
    raise TimeoutError("the body did not arrive within READ_DEADLINE")


def _read(stream: IO[bytes], length: int) -> bytes:
    body = stream.read(length)
    if len(body) < length:
        raise BadRequest("the body is shorter than its Content-Length")
    return body


# Each byte's class: "h" a hex digit, "%" itself, "o" anything else. A body whose every "%"
# is followed by two hex digits has none of the patterns of _MALFORMED.
_SHAPE = bytes.maketrans(
    bytes(range(256)),
    bytes(
        ord("h") if chr(b) in "0123456789abcdefABCDEF" else ord("%") if b == ord("%") else ord("o")
        for b in range(256)
    ),
)
_MALFORMED = (b"%o", b"%%", b"%ho", b"%h%")


def posted_pairs(body: bytes) -> list[tuple[str, str]]:
    """The posted (name, value) pairs, decoded as werkzeug decodes them: a post of Twilio's
    size (1-3 kB) the plain way, which is fastest there; a larger one in C (``_c_pairs``),
    refused (403) when it is not one Twilio would post."""
    return _decoded_pairs(body) if len(body) <= PLAIN_UP_TO else _c_pairs(body)


def _c_pairs(body: bytes) -> list[tuple[str, str]]:
    """``_decoded_pairs`` for a body Twilio would post, refused (Forbidden) otherwise: too
    many pairs, a malformed %-escape, text that is not UTF-8 before or after decoding.
    Every check and the decoding itself run in C over the whole body
    (``binascii.a2b_qp`` reads "=XX" as ``unquote`` reads "%XX"; a test holds the two
    equal), so 64 kB of escapes costs a worker about 3 webhooks, not the 10 ms of ``unquote``."""
    shape = body.translate(_SHAPE)
    if (
        body.count(b"&") >= MAX_PARAMETERS
        or any(p in shape for p in _MALFORMED)
        or shape.endswith((b"%", b"%h"))
    ):
        raise Forbidden()
    try:
        body.decode()
        pairs = []
        for part in body.split(b"&"):
            if part:
                name, _, value = part.partition(b"=")
                pairs.append((_unescaped(name), _unescaped(value)))
    except UnicodeDecodeError as exc:  # werkzeug would keep such bytes %-escaped: not Twilio
        raise Forbidden() from exc
    return pairs


def _unescaped(raw: bytes) -> str:
    if b"%" in raw or b"+" in raw:
        raw = binascii.a2b_qp(raw.replace(b"=", b"=3D").replace(b"+", b" ").replace(b"%", b"="))
    return raw.decode()


def _decoded_pairs(data: bytes) -> list[tuple[str, str]]:
    """(name, value) pairs of a url-encoded string, as werkzeug decodes them (``parse_qsl``
    with its error handler); text that is not UTF-8 gives none, as in werkzeug's form."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return []
    if ("%" in text or "+" in text) and not _SPLITS_WHEN_DECODED.search(text):
        # One unquote over the whole form, then the split: the same pairs as unquoting
        # each name and value (no escape decodes to a separator, and a UTF-8 error never
        # spans the ASCII "&" or "="), for a tenth of the calls: a Twilio post escapes
        # about ten values ("+1..." as %2B1...); 66 -> 14 µs a webhook here.
        text = unquote(text.replace("+", " "), errors="werkzeug.url_quote")
        pairs = []
        for part in text.split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((name, value))
        return pairs
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name = unquote(name.replace("+", " "), errors="werkzeug.url_quote")
            value = unquote(value.replace("+", " "), errors="werkzeug.url_quote")
        pairs.append((name, value))
    return pairs


# An escaped "&" or "=" (%26, %3D): after decoding it would split a value, so such a form is
# decoded name by name and value by value.
_SPLITS_WHEN_DECODED = re.compile("%(?:26|3[dD])")


def _first_values(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Each name's first value, as a werkzeug MultiDict's ``get`` gives it."""
    return dict(reversed(pairs))
