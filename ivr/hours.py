"""Opening hours in a center's own time zone: a weekly pattern, holidays and closures.

Written by operators as a table of day ranges to time ranges:

    hours = { "mon-fri" = "08:00-20:00", sat = "09:00-13:00" }
    hours = "24/7"

A range that ends before it starts runs past midnight ("22:00-06:00"); several ranges
for one day are separated by commas ("08:00-12:00,13:00-17:00"). Holidays close whole
local days; closures close a local interval, whatever the weekly pattern says:

    holidays = ["2026-12-25", "2027-01-01"]
    closures = [{ from = "2026-12-24T18:00", to = "2026-12-26T08:00" }]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.toml_values import shown

T = TypeVar("T")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class HoursError(ValueError):
    """Opening hours that cannot be understood."""


@dataclass(frozen=True)
class WeeklyHours:
    """Open intervals per weekday, in minutes since midnight (end may pass 1440)."""

    days: tuple[tuple[tuple[int, int], ...], ...]  # index 0 = Monday

    def is_open(self, local: datetime) -> bool:
        """True when the center is open at this local time."""
        minute = local.hour * 60 + local.minute
        today = local.weekday()
        for start, end in self.days[today]:
            if start <= minute < end:
                return True
        for _, end in self.days[(today - 1) % 7]:  # an interval of yesterday's past midnight
            if end > 1440 and minute < end - 1440:
                return True
        return False


ALWAYS = WeeklyHours(days=tuple(((0, 1440),) for _ in DAYS))


@dataclass(frozen=True)
class Closure:
    """A one-off closed interval in local time, end exclusive."""

    start: datetime  # naive, local
    end: datetime


@dataclass(frozen=True)
class Schedule:
    """When a place takes calls: weekly hours, minus holidays and closures, in its zone."""

    zone: ZoneInfo
    weekly: WeeklyHours = ALWAYS
    holidays: frozenset[date] = frozenset()
    closures: tuple[Closure, ...] = ()

    def is_open(self, now: datetime) -> bool:
        """True when open at this moment (timezone-aware), judged in the schedule's zone."""
        local = now.astimezone(self.zone).replace(tzinfo=None)
        if local.date() in self.holidays:
            return False
        for closure in self.closures:
            if closure.start <= local < closure.end:
                return False
        return self.weekly.is_open(local)


def _minutes(text: str) -> int:
    try:
        parsed = time.fromisoformat(text.strip())
    except ValueError:
        if text.strip() == "24:00":
            return 1440
        raise HoursError(f"'{text}' is not a time like 08:30") from None
    return parsed.hour * 60 + parsed.minute


def _day_indexes(spec: str) -> list[int]:
    out: list[int] = []
    for part in spec.lower().split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            if first not in DAYS or last not in DAYS:
                raise HoursError(f"'{part}' is not a day range like mon-fri")
            i, j = DAYS.index(first), DAYS.index(last)
            out.extend(DAYS.index(d) % 7 for d in (DAYS * 2)[i : i + ((j - i) % 7) + 1])
        elif part in DAYS:
            out.append(DAYS.index(part))
        else:
            raise HoursError(f"'{part}' is not a day (mon, tue, ... sun)")
    return out


def parse_hours(value: object) -> WeeklyHours:
    """Read an operator's hours value; raise HoursError saying what is wrong."""
    if value == "24/7":
        return ALWAYS
    if not isinstance(value, dict) or not value:
        raise HoursError('expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }')
    days: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for day_spec, ranges in value.items():
        if not isinstance(ranges, str):
            raise HoursError(f"'{day_spec}' must map to text like \"08:00-20:00\"")
        for rng in ranges.split(","):
            if rng.strip().lower() == "closed":
                continue
            if "-" not in rng:
                raise HoursError(f"'{rng.strip()}' is not a range like 08:00-20:00")
            start_text, end_text = rng.split("-", 1)
            start, end = _minutes(start_text), _minutes(end_text)
            if end <= start:
                end += 1440  # runs past midnight
            for index in _day_indexes(day_spec):
                days[index].append((start, end))
    return WeeklyHours(days=tuple(tuple(d) for d in days))


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone; raise HoursError when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"'{name}' is not an IANA time zone like Asia/Manila") from None


def parse_holidays(value: object) -> frozenset[date]:
    """A list of local dates like "2026-12-25"; raise HoursError saying what is wrong."""
    if not isinstance(value, list):
        raise HoursError(f"expected a list of dates like [{DATE_HINT}]")
    return frozenset(_parsed(item, date.fromisoformat, DATE_HINT) for item in value)


def parse_closures(value: object) -> tuple[Closure, ...]:
    """A list of { from = "2026-12-24T18:00", to = "2026-12-26T08:00" } in local time."""
    if not isinstance(value, list):
        raise HoursError(f"expected a list like [{{ from = {TIME_HINT}, to = ... }}]")
    return tuple(_closure(item) for item in value)


DATE_HINT = '"2026-12-25"'
TIME_HINT = '"2026-12-24T18:00"'


def _closure(item: object) -> Closure:
    if not isinstance(item, dict) or set(item) != {"from", "to"}:
        raise HoursError(f"{item!r} is not a table with exactly from and to")
    start, end = (_parsed(item[k], datetime.fromisoformat, TIME_HINT) for k in ("from", "to"))
    if start.tzinfo is not None or end.tzinfo is not None:
        raise HoursError(f"closure {item!r} has a UTC offset; write the center's local time")
    if end <= start:
        raise HoursError(f"closure from {item['from']} to {item['to']} must end after it starts")
    return Closure(start, end)


def _parsed(value: object, parse: Callable[[str], T], hint: str) -> T:
    """A date or time written as quoted text. TOML's own date literals are refused: they
    cannot be published as JSON."""
    if not isinstance(value, str):
        raise HoursError(f"{shown(value)} must be quoted text like {hint}")
    try:
        return parse(value)
    except ValueError:
        raise HoursError(f"'{value}' is not a date or local time like {hint}") from None
