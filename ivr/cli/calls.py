"""``ivr call`` (play one call, in-process or against a running server) and ``ivr call-record``
(one call's whole evidence record)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from ivr import audit
from ivr.caller import Caller, ImpossibleOutcome, Phone, Transport
from ivr.cli import options
from ivr.cli.exits import FINDING, USAGE, ServerUnreachable


def _http_transport() -> Transport:
    import requests

    session = requests.Session()

    def send(
        url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, str, str]:
        r = session.request(method, url, data=params or None, headers=headers, timeout=15)
        return r.status_code, r.headers.get("Content-Type", ""), r.text

    return send


def _app_transport(token: str) -> Transport:
    from ivr import create_app

    client = create_app({"testing": True, "auth_token": token}).test_client()

    def send(
        url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, str, str]:
        r = client.open(url, method=method, data=params or None, headers=headers)
        return r.status_code, r.content_type or "", r.get_data(as_text=True)

    return send


def cmd_call(args: argparse.Namespace) -> int:
    """Play one call and print what the caller hears and where the call goes."""
    if args.url:
        token = args.token or os.environ.get("TWILIO_AUTH_TOKEN", "")
        if not token:
            print("--url needs the server's auth token (--token or TWILIO_AUTH_TOKEN)", file=sys.stderr)
            return USAGE
        phone = Phone(args.url, token, _http_transport(), status_method=args.status_method)
    else:
        token = secrets.token_hex(16)
        phone = Phone("http://localhost", token, _app_transport(token), status_method=args.status_method)
    caller = Caller(
        to=args.number,
        from_=args.from_,
        from_country=args.from_country,
        press=args.press,
        say=args.say,
        outcomes=args.outcome or [],
        barge_in=args.barge_in,
        wait=args.wait,
        hold_press=args.hold_press,
    )
    try:
        transcript = phone.call(caller)
    except ImpossibleOutcome as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:  # requests' errors are OSErrors: nothing listens there, or it hung
        raise ServerUnreachable(
            f"no server answered at {args.url} ({type(exc).__name__}): start it (make run) or fix --url"
        ) from exc
    print(transcript)
    from ivr.webhooks import GENERIC_APOLOGY  # here: `ivr check` need not import Flask

    if transcript.heard == [GENERIC_APOLOGY] and not transcript.bridges:
        print(
            f"ivr call: {args.number} reached no flow: it is not a published number (ivr load "
            "flows/), or the server holds no configuration",
            file=sys.stderr,
        )
        return FINDING
    return 0 if all(s == 200 for s in transcript.statuses) else 1


def cmd_call_record(args: argparse.Namespace) -> int:
    """Print one call's whole record, in order, with its chain status."""
    found = False
    for entry_id, fields, status in audit.call_record(options.store(args), options.keyring(), args.call_sid):
        found = True
        shown = {k: v for k, v in fields.items() if k not in ("call", "prev", "hash", "mac", "kid")}
        print(f"{entry_id}  [{status}]")
        for name, value in shown.items():
            print(f"    {name}: {value}")
    if not found:
        print(f"no record of call {args.call_sid}", file=sys.stderr)
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = sub.add_parser("call", help="play a call without a phone")
    call.add_argument("number", type=options.e164, help="the number dialed, E.164")
    call.add_argument("--url", help="a running server's base URL; default: in-process")
    call.add_argument("--token", help="the server's TWILIO_AUTH_TOKEN (with --url)")
    call.add_argument("--press", default="", help="keys per prompt, comma-separated: 2,,1")
    call.add_argument(
        "--say",
        default="",
        help="words said at the first prompt after the "
        "--press answers (with no --press: the first prompt, e.g. a language menu)",
    )
    call.add_argument(
        "--barge-in", action="store_true", help="press and say while each prompt still plays (which cuts it)"
    )
    call.add_argument("--from", dest="from_", default="+12025550143", help="caller's number")
    call.add_argument("--from-country", default="US", help="Twilio's FromCountry")
    call.add_argument(
        "--status-method",
        choices=("POST", "GET"),
        default="POST",
        help="how the number's status callback is configured (default POST)",
    )
    call.add_argument(
        "--outcome",
        action="append",
        help="how each bridge ends: completed, failed, hangup (the caller "
        "hangs up first), a Dial also busy, no-answer, a queue any other "
        "QueueResult (repeatable)",
    )
    call.add_argument(
        "--wait",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds on hold before a queue's agent answers",
    )
    call.add_argument("--hold-press", default="", metavar="KEY", help="a key pressed on hold (after --wait)")
    call.set_defaults(func=cmd_call)

    record = sub.add_parser("call-record", help="one call's whole evidence record")
    record.add_argument("call_sid")
    record.add_argument("--redis-url", default=options.redis_url())
    record.set_defaults(func=cmd_call_record)
