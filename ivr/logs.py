"""Log lines as JSON, one event per line, every value escaped: the app's logs and gunicorn's
(deploy/gunicorn.conf.py wires both).

Paths, step-URL states, header values are the client's text: a ``%0D%0A`` in a path used to
end the access-log line and forge the next one. ``json.dumps`` escapes CR, LF, quotes and
every other control character, so whatever a value holds, an event is one line a log
pipeline parses. Each line carries the CallSid of the webhook being served once its
signature verified (``call``), and the flow, version and step the call is at once the
webhook knows them (``at``); never the caller's number: nothing here reads ``From``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_call_sid: ContextVar[str] = ContextVar("call_sid", default="")
_place: ContextVar[dict[str, str] | None] = ContextVar("place", default=None)


@contextmanager
def call(sid: str) -> Iterator[None]:
    """Every line logged inside carries this CallSid (and where the call is, once ``at``
    said it)."""
    token, place = _call_sid.set(sid), _place.set({})
    try:
        yield
    finally:
        _call_sid.reset(token)
        _place.reset(place)


def at(flow: str, version: object, step: str) -> None:
    """Lines logged from here on, inside ``call``, name the flow, version and step."""
    place = _place.get()
    if place is not None:
        place.update(flow=flow, version=str(version), step=step)


def place() -> dict[str, str]:
    """The flow, version and step ``at`` last named in this webhook (empty: not known)."""
    return dict(_place.get() or {})


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds * 1000) % 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line: time, level, logger, event, the CallSid
    being served, the fields passed as ``extra={"fields": {...}}``, and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        sid = _call_sid.get()
        if sid:
            line["call_sid"] = sid
            line.update(_place.get() or {})
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=True, default=str)


def access_line(environ: Mapping[str, Any], status: str, sent: int | None, micros: int) -> str:
    """gunicorn's access-log line for a request, as JSON: never the query string (step
    state) or a header a client chose, beyond the path it asked for."""
    line: dict[str, Any] = {
        "time": _utc(time.time()),
        "level": "info",
        "logger": "gunicorn.access",
        "event": "request",
        "remote": environ.get("REMOTE_ADDR", ""),
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""),
        "status": status.split(None, 1)[0],
        "bytes": sent,
        "ms": round(micros / 1000, 1),
    }
    if environ.get("onshore.call_sid"):
        line["call_sid"] = environ["onshore.call_sid"]
        line.update(environ.get("onshore.place", {}))
    return json.dumps(line, ensure_ascii=True, default=str)


def config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for gunicorn's ``logconfig_dict``: gunicorn's own
    lines and the app's as JSON on stderr. The access log keeps gunicorn's handler (so
    ``--access-logfile`` still decides where it goes); its lines are ``access_line``'s."""
    errors = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"errors": errors},
        "root": {"level": level.upper(), "handlers": ["errors"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": ["errors"], "propagate": False},
        },
    }
