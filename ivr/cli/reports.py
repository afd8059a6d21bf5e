"""``ivr report``: the compliance report of a period."""

from __future__ import annotations

import argparse

from ivr import audit, period, report
from ivr.cli import options


def cmd_report(args: argparse.Namespace) -> int:
    """The compliance report of a period, in the format asked for."""
    start, end = period.parse(args.from_, args.to)
    events = report.as_events(audit.period(options.store(args), start, end, options.archive_folder(args)))
    built = report.build_report(events, start, end, args.flow, options.home(args))
    print(report.render(built, args.format), end="")
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
