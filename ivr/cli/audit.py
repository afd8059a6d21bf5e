"""``ivr audit verify|anchor|export|archive|prune|replay``: the evidence record."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from redis.exceptions import RedisError

from ivr import anchors, archive, audit, period
from ivr.archive import HOT_DAYS
from ivr.cli import options
from ivr.cli.exits import FILE_PROBLEM, REDIS_DOWN, UNVERIFIED
from ivr.errors import PeriodError
from ivr.settings import refuse_placeholder
from ivr.spool import Spool
from ivr.store import Store, connect


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Walk the whole record; name the first broken link."""
    keys = options.keyring()
    logged: Path | list[anchors.Anchor] = []
    if args.anchors:  # handed to verify by its path: read a line at a time, never all at once
        logged = Path(args.anchors)
        try:
            for _ in anchors.streamed(logged):  # every line an anchor, before the walk
                pass
        except (OSError, ValueError) as exc:  # not there or unreadable: 4; not an anchor log: 1
            print(f"cannot read the anchor log {args.anchors}: {exc}", file=sys.stderr)
            return FILE_PROBLEM if isinstance(exc, OSError) else 1
    verdict = audit.verify(options.store(args), keys, logged, options.archive_folder(args))
    if not verdict.intact:
        print(f"BROKEN at {verdict.broken_at} (entry {verdict.entries}): {verdict.problem}")
        return 1
    unverified = _unverified_macs(verdict, keys is not None)
    note = ""
    if verdict.anchors:
        note += f", held to {verdict.anchors} anchors, the last of {verdict.last_anchor}"
    else:
        note += (
            " (no anchors: erasure by the webhooks' Redis user would not show; run "
            "ivr audit anchor with the auditor's credentials on a timer)"
        )
    if unverified and not args.accept_unverified_macs:
        print(
            f"chain intact, MACs NOT VERIFIED: {verdict.entries} entries; {unverified}{note}; "
            "set the keys, or pass --accept-unverified-macs to accept that"
        )
        return UNVERIFIED
    print(
        f"intact: {verdict.entries} entries"
        + (f" (accepted unverified: {unverified})" if unverified else "")
        + note
    )
    return 0


def _unverified_macs(verdict: audit.Verdict, have_keys: bool) -> str:
    """What `ivr audit verify` could not check: the MACs without a key; "" when none."""
    if not have_keys:
        return "no entry's MAC was checked: IVR_CALLER_HASH_KEY is not set"
    if verdict.unknown_keys:
        return (
            f"{verdict.unknown_keys} entries' MACs were not checked: their key ids are not "
            "configured here (IVR_CALLER_HASH_KEY_ID, IVR_CALLER_HASH_KEYS_OLD)"
        )
    return ""


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Record the record's high-water mark (with the auditor's credentials), also in the
    local log; with --every, again and again. Exit 1 when the record lost what an earlier
    anchor attested."""
    refuse_placeholder("--redis-url", args.redis_url)
    # a PING each round, not once: a timer that starts while Redis is down goes on trying
    ping = connect(args.redis_url, timeout=options.PING_TIMEOUT)
    store, log = Store(connect(args.redis_url, timeout=5.0)), Path(args.log) if args.log else None
    while True:
        unreachable = None
        try:
            ping.ping()
            taken, problem = audit.anchor(store, datetime.now(UTC))
        except (RedisError, OSError) as exc:  # the timer goes on: the next run may reach it
            unreachable = exc
            taken, problem = None, f"cannot read the record: {exc}"
        if problem:
            print(f"ALARM: {problem}", file=sys.stderr, flush=True)
        elif taken is not None:
            if log is not None:
                anchors.append(log, taken)
            print(f"anchored {taken.count} entries up to {taken.last} ({taken.hash[:12]})", flush=True)
        if not args.every:
            return REDIS_DOWN if unreachable is not None else 1 if problem else 0
        time.sleep(args.every)


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Export a range of days to a file and record that it was exported."""
    start, end = period.parse(args.from_, args.to)
    count, digest = audit.export(options.store(args), start, end, args.format, Path(args.out))
    print(f"exported {count} entries to {args.out} (sha256 {digest})")
    return 0


def cmd_audit_archive(args: argparse.Namespace) -> int:
    """Move complete days older than the hot window to day files, then prune them."""
    if not args.archive:
        print("no archive folder: set IVR_ARCHIVE_DIR or pass --archive", file=sys.stderr)
        return 2
    if not 1 <= args.hot_days <= period.MAX_DAYS * 10:
        raise PeriodError(f"hot-days {args.hot_days} must be 1 to {period.MAX_DAYS * 10}")
    written, why = archive.archive(
        options.store(args), Path(args.archive), args.hot_days, datetime.now(UTC).date()
    )
    for day in written:
        print(f"archived {day.count} entries of {day.day} to {day.file} (sha256 {day.sha256})")
    if why:
        print(f"stopped: {why}", file=sys.stderr)
        return 1
    if not written:
        print(f"nothing to archive: no complete day older than {args.hot_days} days in Redis")
    return 0


def cmd_audit_prune(args: argparse.Namespace) -> int:
    """Delete exported entries older than the retention period."""
    before = period.day(args.before, "before")
    if not 0 <= args.retention_days <= period.MAX_DAYS * 10:
        raise PeriodError(f"retention-days {args.retention_days} must be 0 to {period.MAX_DAYS * 10}")
    removed, why = audit.prune(options.store(args), before, args.retention_days, datetime.now(UTC).date())
    print(f"pruned {removed} entries" if removed else f"nothing pruned: {why}")
    return 0 if removed or "no entries" in why else 1


def cmd_audit_replay(args: argparse.Namespace) -> int:
    """Send spooled evidence to Redis now."""
    store = options.store(args)
    sent = Spool(Path(args.spool)).replay(store.append)
    print(f"replayed {sent} spooled event(s) from {args.spool}")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit_parser = sub.add_parser("audit", help="verify, export, prune and replay evidence")
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    anchor_log = os.environ.get("IVR_ANCHOR_LOG", "")
    archive_dir = options.archive_dir()
    verify = audit_sub.add_parser("verify", help="check the hash chain, MACs and anchors")
    verify.add_argument(
        "--anchors", default=anchor_log, help="a local anchor log to hold the record to as well"
    )
    verify.add_argument(
        "--archive",
        default=archive_dir,
        help="day files of older evidence, verified with Redis as one record",
    )
    verify.add_argument(
        "--accept-unverified-macs",
        action="store_true",
        help="exit 0 although some MACs could not be checked (no key for them)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    anchor = audit_sub.add_parser("anchor", help="record the high-water mark (auditor user)")
    anchor.add_argument("--log", default=anchor_log, help="also append it to this local file")
    anchor.add_argument(
        "--every", type=float, default=0.0, help="seconds between anchors; 0: once (for a timer)"
    )
    anchor.set_defaults(func=cmd_audit_anchor)
    export = audit_sub.add_parser("export", help="export days of evidence to a file")
    export.add_argument("--from", dest="from_", required=True)
    export.add_argument("--to", required=True)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", required=True)
    export.set_defaults(func=cmd_audit_export)
    prune = audit_sub.add_parser("prune", help="delete exported evidence past retention")
    prune.add_argument("--before", required=True)
    prune.add_argument("--retention-days", type=int, default=int(os.environ.get("IVR_RETENTION_DAYS", "400")))
    prune.set_defaults(func=cmd_audit_prune)
    moved = audit_sub.add_parser("archive", help="move days past the hot window to day files")
    moved.add_argument("--archive", default=archive_dir, help="the archive folder")
    moved.add_argument("--hot-days", type=int, default=int(os.environ.get("IVR_HOT_DAYS", str(HOT_DAYS))))
    moved.set_defaults(func=cmd_audit_archive)
    replay = audit_sub.add_parser("replay", help="send spooled evidence to Redis")
    replay.add_argument("--spool", default=os.environ.get("IVR_SPOOL_DIR", "spool"))
    replay.set_defaults(func=cmd_audit_replay)
    for p in (verify, anchor, export, prune, moved, replay):
        p.add_argument("--redis-url", default=options.redis_url())
