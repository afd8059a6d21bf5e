"""``ivr report``: the compliance report of a period."""

from __future__ import annotations

import argparse
import sys

from ivr import audit, period, report
from ivr.cli import options

SHOW_THEIR_WARNINGS = ("text", "html")  # formats whose page carries the report's warnings


def cmd_report(args: argparse.Namespace) -> int:
    """The compliance report of a period, in the format asked for."""
    start, end = period.parse(args.from_, args.to)
    folder = options.archive_folder(args)
    if folder is not None and not folder.is_dir():
        print(
            f"note: the archive folder {folder} does not exist: the report holds only what Redis holds",
            file=sys.stderr,
        )
    events = report.stored_events(audit.period(options.store(args), start, end, folder, stored=True))
    built = report.build_report(events, start, end, args.flow, options.home(args))
    print(report.render(built, args.format), end="")
    if args.flow and not built.volume.calls_received and args.format not in SHOW_THEIR_WARNINGS:
        print(
            f"note: no call of flow '{args.flow}' was received in this period: is the flow's id "
            "right? (`ivr versions FLOW` lists its versions)",
            file=sys.stderr,
        )
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rep = sub.add_parser("report", help="compliance report of a period")
    rep.add_argument("--from", dest="from_", required=True)
    rep.add_argument("--to", required=True)
    rep.add_argument("--flow", help="only calls of this flow")
    rep.add_argument("--format", choices=report.FORMATS, default="text")
    rep.add_argument("--redis-url", default=options.redis_url())
    rep.add_argument("--archive", default=options.archive_dir(), help="day files of older evidence")
    rep.set_defaults(func=cmd_report)
