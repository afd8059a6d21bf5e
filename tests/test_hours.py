"""Opening hours, holidays and closures, read as operators write them and evaluated in a
center's local time."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from ivr.flow import Center, Target
from ivr.hours import (
    ALWAYS,
    DAYS,
    HoursError,
    Schedule,
    parse_closures,
    parse_holidays,
    parse_hours,
    parse_zone,
)
from ivr.routing import is_open

# A week of local dates: Monday 3 March 2025 ... Sunday 9 March 2025.
DATE = {day: 3 + i for i, day in enumerate(DAYS)}


def at(day: str, hhmm: str) -> datetime:
    """A local (naive) time on the given weekday of the test week."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime(2025, 3, DATE[day], hour, minute)


def open_at(hours, day: str, hhmm: str) -> bool:
    return parse_hours(hours).is_open(at(day, hhmm))


def test_test_week_starts_on_monday():
    assert [at(d, "12:00").strftime("%a").lower() for d in DAYS] == list(DAYS)


@pytest.mark.parametrize("day, hhmm", [("mon", "00:00"), ("wed", "12:34"), ("sun", "23:59")])
def test_24_7_is_always_open(day, hhmm):
    assert parse_hours("24/7") is ALWAYS
    assert open_at("24/7", day, hhmm)


WEEKDAYS = {"mon-fri": "08:00-20:00", "sat": "09:00-13:00"}


@pytest.mark.parametrize(
    "day, hhmm, expected",
    [
        ("mon", "07:59", False),
        ("mon", "08:00", True),  # start is inclusive
        ("wed", "12:00", True),
        ("fri", "19:59", True),
        ("fri", "20:00", False),  # end is exclusive
        ("sat", "08:59", False),
        ("sat", "09:00", True),
        ("sat", "13:00", False),
        ("sun", "12:00", False),  # not listed: closed
    ],
)
def test_day_ranges_and_single_days(day, hhmm, expected):
    assert open_at(WEEKDAYS, day, hhmm) is expected


@pytest.mark.parametrize(
    "hhmm, expected",
    [
        ("11:59", True),
        ("12:00", False),
        ("12:30", False),
        ("13:00", True),
        ("16:59", True),
        ("17:00", False),
    ],
)
def test_several_ranges_in_one_day(hhmm, expected):
    assert open_at({"mon": "08:00-12:00,13:00-17:00"}, "mon", hhmm) is expected


@pytest.mark.parametrize(
    "day, hhmm, expected",
    [
        ("fri", "21:59", False),
        ("fri", "22:00", True),
        ("fri", "23:59", True),
        ("sat", "00:00", True),
        ("sat", "02:00", True),  # the night that started on Friday
        ("sat", "05:59", True),
        ("sat", "06:00", False),
        ("sat", "22:30", False),  # Saturday has no night of its own
        ("thu", "02:00", False),  # Wednesday has no night either
    ],
)
def test_overnight_range_runs_past_midnight_into_the_next_day(day, hhmm, expected):
    assert open_at({"fri": "22:00-06:00"}, day, hhmm) is expected


def test_overnight_range_on_sunday_runs_into_monday():
    hours = {"sun": "22:00-06:00"}

    assert open_at(hours, "mon", "02:00")
    assert not open_at(hours, "mon", "06:00")
    assert not open_at(hours, "sun", "02:00")


@pytest.mark.parametrize(
    "spec, open_days",
    [
        ("mon-fri", {"mon", "tue", "wed", "thu", "fri"}),
        ("fri-mon", {"fri", "sat", "sun", "mon"}),  # a range may wrap over the weekend
        ("sat,sun", {"sat", "sun"}),
        ("mon, wed-thu", {"mon", "wed", "thu"}),
        ("Mon-Fri", {"mon", "tue", "wed", "thu", "fri"}),  # case does not matter
        ("sun-sun", {"sun"}),
    ],
)
def test_day_specs(spec, open_days):
    hours = {spec: "09:00-17:00"}

    assert {d for d in DAYS if open_at(hours, d, "12:00")} == open_days


def test_closed_days():
    hours = {"mon-fri": "09:00-17:00", "sat": "closed", "sun": "Closed"}

    assert open_at(hours, "fri", "12:00")
    assert not open_at(hours, "sat", "12:00")
    assert not open_at(hours, "sun", "12:00")
    assert parse_hours({"mon-sun": "closed"}).days == ((),) * 7


@pytest.mark.parametrize(
    "hours, interval",
    [
        ({"mon": "00:00-24:00"}, (0, 1440)),
        ({"mon": "22:00-24:00"}, (1320, 1440)),
        ({"mon": "22:00-06:00"}, (1320, 1800)),
        ({"mon": "09:30-17:15"}, (570, 1035)),
        ({"mon": " 09:30 - 17:15 "}, (570, 1035)),
    ],
)
def test_intervals_are_minutes_since_midnight(hours, interval):
    assert parse_hours(hours).days[0] == (interval,)


@pytest.mark.parametrize(
    "hours, message",
    [
        ({"mon-fri": "8am-5pm"}, "'8am' is not a time like 08:30"),
        ({"mon-fri": "25:00-26:00"}, "'25:00' is not a time like 08:30"),
        ({"mon-fri": "09:00-"}, "'' is not a time like 08:30"),
        ({"mon-fri": "0900"}, "'0900' is not a range like 08:00-20:00"),
        ({"mon-fry": "09:00-17:00"}, "'mon-fry' is not a day range like mon-fri"),
        ({"weekdays": "09:00-17:00"}, "'weekdays' is not a day (mon, tue, ... sun)"),
        ({"mon": 9}, "'mon' must map to text like \"08:00-20:00\""),
        ({}, 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
        ("24/6", 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
        ("always", 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
        (None, 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
    ],
)
def test_bad_hours_raise_hours_error_saying_what_is_wrong(hours, message):
    with pytest.raises(HoursError) as caught:
        parse_hours(hours)

    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("name", ["Asia/Manila", "Asia/Kolkata", "America/New_York", "UTC"])
def test_known_time_zones(name):
    assert parse_zone(name) == ZoneInfo(name)


@pytest.mark.parametrize("name", ["Asia/Manilla", "asia/manila", "PHT", "", "../etc/passwd"])
def test_unknown_time_zones(name):
    with pytest.raises(HoursError, match="is not an IANA time zone like Asia/Manila"):
        parse_zone(name)


def scranton(hours) -> Center:
    return Center(
        "scranton",
        "Acme Scranton",
        "Scranton",
        "US",
        ZoneInfo("America/New_York"),
        parse_hours(hours),
        Target("number", "+15705550123"),
    )


@pytest.mark.parametrize(
    "utc, expected",
    [
        (datetime(2025, 3, 7, 12, 30, tzinfo=UTC), False),  # 07:30 EST, before DST
        (datetime(2025, 3, 7, 13, 30, tzinfo=UTC), True),  # 08:30 EST
        (datetime(2025, 3, 10, 12, 30, tzinfo=UTC), True),  # 08:30 EDT, after DST began
        (datetime(2025, 3, 11, 0, 30, tzinfo=UTC), False),  # Monday 20:30 EDT
    ],
)
def test_center_hours_are_read_in_its_own_zone_across_dst(utc, expected):
    assert is_open(scranton({"mon-fri": "08:00-20:00"}), utc) is expected


# --- holidays and one-off closures -------------------------------------------------------------

NIGHTS = {"mon-sun": "22:00-06:00"}


@pytest.mark.parametrize(
    "local, expected",
    [
        (datetime(2026, 12, 24, 23, 0), True),  # Christmas Eve night shift
        (datetime(2026, 12, 25, 1, 0), False),  # the same shift, but now it is the holiday
        (datetime(2026, 12, 25, 23, 0), False),
        (datetime(2026, 12, 26, 0, 0), True),  # the holiday ended at local midnight
    ],
)
def test_holiday_closes_the_whole_local_day_even_a_shift_that_started_before(local, expected):
    schedule = Schedule(ZoneInfo("Asia/Manila"), parse_hours(NIGHTS), holidays=parse_holidays(["2026-12-25"]))

    assert schedule.is_open(local.replace(tzinfo=ZoneInfo("Asia/Manila"))) is expected


@pytest.mark.parametrize(
    "local, expected",
    [
        (datetime(2026, 12, 24, 17, 59), True),
        (datetime(2026, 12, 24, 18, 0), False),  # start is inclusive
        (datetime(2026, 12, 26, 7, 59), False),
        (datetime(2026, 12, 26, 8, 0), True),  # end is exclusive
    ],
)
def test_closure_closes_a_local_interval(local, expected):
    zone = ZoneInfo("America/New_York")
    schedule = Schedule(
        zone,
        parse_hours("24/7"),
        closures=parse_closures([{"from": "2026-12-24T18:00", "to": "2026-12-26T08:00"}]),
    )

    assert schedule.is_open(local.replace(tzinfo=zone)) is expected


def test_center_holiday_is_its_own_local_date_not_utc():
    center = replace(scranton("24/7"), holidays=parse_holidays(["2026-07-04"]))

    assert is_open(center, datetime(2026, 7, 4, 3, 0, tzinfo=UTC))  # 3 July, 23:00 EDT
    assert not is_open(center, datetime(2026, 7, 4, 5, 0, tzinfo=UTC))  # 4 July, 01:00 EDT


@pytest.mark.parametrize(
    "value, message",
    [
        ("2026-12-25", 'expected a list of dates like ["2026-12-25"]'),
        (["25/12/2026"], "'25/12/2026' is not a date or local time like \"2026-12-25\""),
        ([date(2026, 12, 25)], 'must be quoted text like "2026-12-25"'),
    ],
)
def test_bad_holidays_are_refused(value, message):
    with pytest.raises(HoursError, match=re.escape(message)):
        parse_holidays(value)


@pytest.mark.parametrize(
    "value, message",
    [
        ({"from": "2026-12-24T18:00"}, 'expected a list like [{ from = "2026-12-24T18:00", to = ... }]'),
        ([{"from": "2026-12-24T18:00"}], "is not a table with exactly from and to"),
        ([{"from": "2026-12-24T18:00", "to": "2026-12-24T18:00"}], "must end after it starts"),
        ([{"from": "2026-12-24 6pm", "to": "2026-12-26T08:00"}], "'2026-12-24 6pm' is not a date"),
        ([{"from": "2026-12-24T18:00Z", "to": "2026-12-26T08:00"}], "has a UTC offset"),
    ],
)
def test_bad_closures_are_refused(value, message):
    with pytest.raises(HoursError, match=re.escape(message)):
        parse_closures(value)
