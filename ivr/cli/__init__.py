"""The ``ivr`` command: check, load, test and try flows without a phone.

Each command group is a module of this package with an ``add_commands`` function (see
``parser.py``); a new group is one new module.
"""

from __future__ import annotations

from ivr.cli.exits import (
    FILE_PROBLEM,
    FINDING,
    NO_SERVER,
    REDIS_DOWN,
    SETTINGS,
    UNVERIFIED,
    USAGE,
    ServerUnreachable,
    run,
)
from ivr.cli.parser import build_parser

__all__ = [
    "FILE_PROBLEM",
    "FINDING",
    "NO_SERVER",
    "REDIS_DOWN",
    "SETTINGS",
    "UNVERIFIED",
    "USAGE",
    "ServerUnreachable",
    "build_parser",
    "main",
]


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code, never a traceback."""
    return run(build_parser().parse_args(argv))
