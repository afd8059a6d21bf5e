"""``ivr worker``, ``ivr callbacks`` and ``ivr voicemail``: the domestic line's back office.

``ivr worker`` places callbacks (``ivr.callback_worker``: rq with its scheduler); ``ivr
callbacks`` lists the open ones in line order; ``ivr voicemail list|show|done`` reads the
voicemails left for the domestic team from the evidence (``voicemail_left``: the recording's
SID and URL, never its audio) and marks them done (``onshore:voicemail:done``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

from ivr import audit, period
from ivr.cli import options
from ivr.cli.exits import FINDING, USAGE
from ivr.keys import VOICEMAIL_DONE


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a callback worker until SIGTERM (or, with --burst, until the queue is empty)."""
    from ivr import callback_worker

    env = dict(os.environ)
    env["REDIS_URL"] = args.redis_url
    options.store(args)  # Redis answers, or exit 3 with one line
    callback_worker.run(env, burst=args.burst)
    return 0


def cmd_callbacks(args: argparse.Namespace) -> int:
    """The open callbacks, in line order per destination."""
    from ivr.callback_store import CallbackStore

    store = CallbackStore(options.store(args).client)
    rows = [cb for cb in (store.load(i) for i in store.open_ids()) if cb is not None]
    if not rows:
        print("no open callbacks")
        return 0
    for cb in sorted(rows, key=lambda c: (c.center, c.requested)):
        asked = datetime.fromtimestamp(cb.requested, UTC).isoformat(timespec="seconds")
        print(
            f"{cb.id}  {cb.center}  asked {asked}  {cb.state}  attempt {cb.attempt}/{cb.attempts}"
            f"  call {cb.call_sid}" + (f"  ({cb.reason})" if cb.reason else "")
        )
    return 0


def voicemails(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """The voicemail_left events of the period asked for (default: the last 7 days), each
    with what Twilio sent after the call: the recording's status (voicemail_recording:
    ``recording_status``, completed once the file is there, or absent) and its transcript
    (voicemail_transcript: ``transcript`` and ``transcript_status``)."""
    today = datetime.now(UTC).date()
    start, end = period.parse(args.from_ or str(today - timedelta(days=7)), args.to or str(today))
    left: list[dict[str, str]] = []
    later: dict[str, dict[str, str]] = {}  # per recording: what came after the call
    for _, flat in audit.period(options.store(args), start, end, options.archive_folder(args)):
        event = dict(zip(flat[::2], flat[1::2], strict=True))
        step, recording = event.get("step"), event.get("recording", "")
        if step == "voicemail_left":
            left.append(event)
        elif step == "voicemail_transcript":
            found = later.setdefault(recording, {})
            found.update(transcript=event.get("text", ""), transcript_status=event.get("status", ""))
        elif step == "voicemail_recording":
            later.setdefault(recording, {})["recording_status"] = event.get("status", "")
    for event in left:
        yield {**event, **later.get(event.get("recording", ""), {})}


def _line(event: Mapping[str, str], done: Mapping[bytes, bytes]) -> str:
    mark = "done" if event.get("recording", "").encode() in done else "new "
    return (
        f"{mark}  {event.get('at', '')}  {event.get('recording', '')}  {event.get('duration', '')} s"
        f"  {event.get('center', '')}  {event.get('language', '')}  call {event.get('call', '')}"
        + ("  transcript" if event.get("transcript_status") == "completed" else "")
    )


def cmd_voicemail(args: argparse.Namespace) -> int:
    """list, show SID, done SID."""
    client = options.store(args).client
    done = client.hgetall(VOICEMAIL_DONE)
    if args.action == "list":
        found = [e for e in voicemails(args) if args.all or e.get("recording", "").encode() not in done]
        for event in found:
            print(_line(event, done))
        if not found:
            print("no voicemail" + ("" if args.all else " waiting (--all lists those done too)"))
        return 0
    if not args.sid:
        print("ivr voicemail: show and done need the recording SID (RE...)", file=sys.stderr)
        return USAGE
    match = next((e for e in voicemails(args) if e.get("recording") == args.sid), None)
    if match is None:
        print(f"no voicemail {args.sid} in the period (give --from and --to)")
        return FINDING
    if args.action == "show":
        for name in ("recording", "url", "duration", "center", "language", "call", "caller", "at"):
            print(f"{name}: {match.get(name, '')}")
        print(f"recording status: {match.get('recording_status', '') or 'not yet'}")
        status = match.get("transcript_status", "")
        print(f"transcript: {match.get('transcript', '') if status == 'completed' else status or 'none'}")
        when = done.get(args.sid.encode())
        print(f"done: {when.decode() if when else 'no'}")
        return 0
    stamp = f"{datetime.now(UTC).isoformat(timespec='seconds')} by {os.environ.get('USER', '?')}"
    client.hsetnx(VOICEMAIL_DONE, args.sid, stamp)
    print(f"{args.sid} marked done")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = sub.add_parser("worker", help="place callbacks (an rq worker with its scheduler)")
    worker.add_argument("--burst", action="store_true", help="stop when no job is left")
    worker.add_argument("--redis-url", default=options.redis_url())
    worker.set_defaults(func=cmd_worker)
    open_ = sub.add_parser("callbacks", help="the open callbacks, in line order")
    open_.add_argument("--redis-url", default=options.redis_url())
    open_.set_defaults(func=cmd_callbacks)
    box = sub.add_parser("voicemail", help="voicemails left for the domestic team")
    box.add_argument("action", choices=("list", "show", "done"))
    box.add_argument("sid", nargs="?", default="", help="the recording SID (show, done)")
    box.add_argument("--from", dest="from_", default="", help="first UTC day (default: 7 days ago)")
    box.add_argument("--to", default="", help="last UTC day (default: today)")
    box.add_argument("--all", action="store_true", help="list those marked done too")
    box.add_argument("--redis-url", default=options.redis_url())
    box.add_argument("--archive", default=options.archive_dir(), help="day files of older evidence")
    box.set_defaults(func=cmd_voicemail)
