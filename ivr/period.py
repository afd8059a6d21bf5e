"""The days a report, an export or a prune covers: parsed and bounded here, once, for the
CLI and ``GET /reports`` alike.

A day is a UTC date written 2026-11-01. The record's stream ids count milliseconds from the
Unix epoch, so no evidence is older than 1970-01-01; reading a period takes a day of slack
past its end (calls that ran past midnight) and stops at the start of the day after that,
so the last day a period may end is two days before the calendar's last.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from ivr.errors import PeriodError

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date.max - timedelta(days=2)
MAX_DAYS = 3660  # ten years: the report lists every day of its period
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # date.fromisoformat also takes 20261101, 2026-W01-1


def day(text: str | None, name: str) -> date:
    """The UTC day ``text`` names; raises PeriodError saying what is wrong with ``name``."""
    if not text:
        raise PeriodError(f"{name} is required, as a date like 2026-11-01")
    try:
        if not _DAY.match(text):
            raise ValueError
        value = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{name} {text[:40]!r} is not a date like 2026-11-01") from None
    if value < FIRST_DAY:
        raise PeriodError(f"{name} {text} is before {FIRST_DAY}: the record holds nothing older")
    if value > LAST_DAY:
        raise PeriodError(f"{name} {text} is after {LAST_DAY}, the last day a period may end")
    return value


def parse(start: str | None, end: str | None) -> tuple[date, date]:
    """The period from ``start`` to ``end``, both included; raises PeriodError."""
    first, last = day(start, "from"), day(end, "to")
    if last < first:
        raise PeriodError(f"the period ends ({last}) before it starts ({first})")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(f"the period is {(last - first).days + 1} days; at most {MAX_DAYS}")
    return first, last
