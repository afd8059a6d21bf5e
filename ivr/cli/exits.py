"""What an ``ivr`` command's failure prints and exits with: one line, one code, no traceback."""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from redis.exceptions import AuthenticationError, RedisError, ResponseError

from ivr.errors import CircuitOpen, OnshoreError, SettingsError, StoreUnavailable

# Exit codes (the README's "Exit codes" lists them): what went wrong, for scripts and timers.
FINDING, USAGE, REDIS_DOWN, FILE_PROBLEM, NO_SERVER, UNVERIFIED, SETTINGS = 1, 2, 3, 4, 5, 6, 7


class ServerUnreachable(OnshoreError):
    """`ivr call --url`: no server answered there."""


def run(args: argparse.Namespace) -> int:
    """Run the parsed command (``args.func``); turn each failure into one line and its code."""
    try:
        return int(args.func(args))
    except (StoreUnavailable, RedisError) as exc:
        if (
            isinstance(exc, StoreUnavailable)
            and not isinstance(exc, CircuitOpen)
            and not isinstance(exc.__cause__, RedisError | OSError)
        ):
            print(f"ivr: {exc}", file=sys.stderr)  # Redis answered: e.g. no such version
            return FINDING
        print(f"ivr: {redis_problem(getattr(args, 'redis_url', None), exc)}", file=sys.stderr)
        return REDIS_DOWN
    except OnshoreError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return (
            NO_SERVER
            if isinstance(exc, ServerUnreachable)
            else SETTINGS
            if isinstance(exc, SettingsError)
            else FINDING
        )
    except OSError as exc:
        print(
            f"ivr: cannot use {exc.filename or 'a file'}: {exc.strerror or exc}: "
            "check that its folder exists and may be written",
            file=sys.stderr,
        )
        return FILE_PROBLEM


def redis_problem(url: str | None, exc: Exception) -> str:
    """One line for a Redis that did not answer or refused, without the URL's password."""
    parts = urlsplit(url or "")
    where = f"Redis at {parts.hostname or '?'}:{parts.port or 6379}"
    if isinstance(exc, AuthenticationError | ResponseError):
        return f"{where} refused: {exc}: check the user and password in --redis-url (REDIS_URL)"
    reason = str(exc).split("\n")[0] or type(exc).__name__
    return f"{where} did not answer ({reason}): start it, or point --redis-url (REDIS_URL) at the one to use"
