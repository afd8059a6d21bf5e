"""Reading the [centers.ID] tables (where a center is, when it is open, how to reach it) and
the folder's [policy] table (the connect targets and URL hosts a folder may use)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ivr.caller_data import CALLER_IDS, MASKABLE
from ivr.flow import Center, Policy, Target
from ivr.hours import HoursError, Schedule, parse_closures, parse_holidays, parse_hours, parse_zone
from ivr.outcomes import HELD
from ivr.places import is_country_code
from ivr.rulesets import TIMINGS
from ivr.table_fields import MIN_WAIT, XML_ILLEGAL, Fields, Problems, valid_e164

_WORKFLOW_SID = re.compile(r"^WW[0-9a-f]{32}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9 _.\-]{1,64}$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CENTER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SCHEDULE_FIELDS = ("timezone", "hours", "holidays", "closures")


def parse_target(raw: dict[str, Any], where: str, problems: Problems) -> Target:
    """A center's connect table: exactly one of queue, number, sip, workflow; a number or
    sip may say ``confirm = true`` (or false); a queue or workflow may list the ``sites``
    (center ids) its agents sit in (``ivr check`` then checks them)."""
    kinds = [k for k in ("queue", "number", "sip", "workflow") if k in raw]
    extra = sorted(set(raw) - {"queue", "number", "sip", "workflow", "confirm", "sites"})
    if extra or len(kinds) != 1:
        problems.add(
            where,
            "connect",
            "needs exactly one of queue, number, sip, workflow"
            + (" (and confirm)" if "confirm" in raw else ""),
        )
        return Target("queue", "invalid")
    kind = kinds[0]
    value = raw[kind]
    valid: dict[str, Callable[[str], bool]] = {
        "queue": lambda v: bool(_QUEUE_NAME.match(v)),
        "number": valid_e164,
        "sip": lambda v: v.startswith(("sip:", "sips:")) and "@" in v and not XML_ILLEGAL.search(v),
        "workflow": lambda v: bool(_WORKFLOW_SID.match(v)),
    }
    ok = isinstance(value, str) and valid[kind](value)
    if not ok:
        hint = {
            "queue": "a queue name of letters, digits, space, _ . - (at most 64)",
            "number": "a valid E.164 number like +15705550100",
            "sip": "a SIP URI like sip:agent@pbx.example.com",
            "workflow": "a TaskRouter workflow SID (WW and 32 hex digits)",
        }[kind]
        problems.add(where, f"connect.{kind}", f"{value!r} is not {hint}")
    confirm = raw.get("confirm")
    if confirm is not None and not isinstance(confirm, bool):
        problems.add(where, "connect.confirm", f"must be true or false, not {confirm!r}")
        confirm = None
    elif confirm is not None and kind not in ("number", "sip"):
        # the whisper runs on the answering leg of a <Dial><Number> or <Sip>; a queue or a
        # workflow has no such leg (https://www.twilio.com/docs/voice/twiml/number#url)
        problems.add(where, "connect.confirm", f"needs a number or sip target, not a {kind}")
        confirm = None
    sites = raw.get("sites", [])
    if not isinstance(sites, list) or not all(isinstance(s, str) and _CENTER_ID.match(s) for s in sites):
        problems.add(where, "connect.sites", "must be a list of center ids")
        sites = []
    elif len(set(sites)) != len(sites):
        problems.add(where, "connect.sites", "names a center twice")
    return Target(kind, str(value), confirm, tuple(dict.fromkeys(sites)))


def read_schedule(f: Fields, hours_default: object | None) -> Schedule:
    """Time zone, weekly hours, holidays and closures (None: hours are required)."""
    zone_name = f.name("timezone")
    f.used.update(SCHEDULE_FIELDS)
    if hours_default is None and "hours" not in f.raw:
        f.add("hours", "is required")
    zone = parse_zone("UTC")
    readers: list[tuple[str, Callable[[object], Any], object]] = [
        ("hours", parse_hours, "24/7" if hours_default is None else hours_default),
        ("holidays", parse_holidays, []),
        ("closures", parse_closures, []),
    ]
    parsed = {}
    for name, read, default in readers:
        try:
            parsed[name] = read(f.raw.get(name, default))
        except HoursError as exc:
            f.add(name, str(exc))
            parsed[name] = read(default)
    if zone_name:
        try:
            zone = parse_zone(zone_name)
        except HoursError as exc:
            f.add("timezone", str(exc))
    return Schedule(zone, parsed["hours"], parsed["holidays"], parsed["closures"])


def parse_center(center_id: str, raw: Mapping[str, Any], problems: Problems) -> Center:
    """One [centers.ID] table."""
    where = f"center '{center_id}'"
    if not _ID.match(center_id):
        problems.add(where, "", "an id may hold only letters, digits, _ and - (at most 40)")
    f = Fields(raw, where, problems)
    name = f.text("name", required=False, default=center_id)
    city = f.text("city")
    country = f.name("country")
    if country and not is_country_code(country):
        f.add("country", f"{country!r} is not an ISO 3166 alpha-2 code like PH")
    schedule = read_schedule(f, hours_default="24/7")
    region = f.name("region", required=False)
    connect = f.table("connect")
    max_wait = f.seconds("max_wait", 0, MIN_WAIT)
    caller_id = f.choice("caller_id", CALLER_IDS, "caller")
    f.done()
    target = parse_target(connect, where, problems) if "connect" in raw else Target("queue", "invalid")
    if max_wait and target.kind not in HELD:
        f.add(
            "max_wait",
            f"applies to queue and workflow centers; a {target.kind} bridge is a "
            "<Dial>, which gives up after its own timeout",
        )
    if caller_id == "called" and target.kind not in MASKABLE:
        f.add(
            "caller_id",
            f"a {target.kind} center receives the caller's number from Twilio whatever Onshore "
            "sets (the dequeued call's From, TaskRouter's from attribute): only a number or sip "
            "center can be shown the number dialed",
        )
    return Center(
        center_id,
        str(name),
        str(city),
        country,
        schedule.zone,
        schedule.weekly,
        target,
        region,
        schedule.holidays,
        schedule.closures,
        max_wait,
        caller_id,
    )


_POLICY_LISTS: dict[str, tuple[Callable[[str], bool], str]] = {
    "transfer_numbers": (valid_e164, "a valid E.164 number like +15705550100"),
    "queues": (lambda v: bool(_QUEUE_NAME.match(v)), "a queue name"),
    "sip_domains": (lambda v: bool(_HOST.match(v)), "a host name like pbx.example.com"),
    "workflows": (lambda v: bool(_WORKFLOW_SID.match(v)), "a workflow SID (WW and 32 hex digits)"),
    "url_hosts": (lambda v: bool(_HOST.match(v)), "a host name like media.example.com (no https://)"),
}


def parse_policy(raw: Mapping[str, Any], problems: Problems) -> Policy:
    """The [policy] table: allowlists of connect targets and URL hosts, and the rule sets
    its numbers follow (``ivr.rulesets``), with a disclosure timing stricter than theirs."""
    f = Fields(raw, "policy", problems)
    lists = {}
    for name, (valid, hint) in _POLICY_LISTS.items():
        values = f.names(name, required=False)
        for value in values:
            if not valid(value):
                f.add(name, f"{value!r} is not {hint}")
        lists[name] = frozenset(v.lower() if name.endswith(("domains", "hosts")) else v for v in values)
    rules = f.rules()
    timing = f.choice("timing", TIMINGS, "") or ""
    f.done()
    return Policy(
        lists["transfer_numbers"],
        lists["queues"],
        lists["sip_domains"],
        lists["workflows"],
        lists["url_hosts"],
        rules,
        timing,
    )
