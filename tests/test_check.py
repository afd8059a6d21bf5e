"""`ivr check` on small operator folders: every mistake is refused, naming file, place and field.

Each test writes a known-good folder (centers.toml, numbers.toml, support.toml) into tmp_path,
breaks one thing, and expects check_folder to refuse exactly that thing.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr.check import check_folder
from ivr.engine import Facts, Silence, begin, resume
from ivr.errors import FlowError

SHIPPED = Path(__file__).resolve().parent.parent / "flows"

CENTERS = """\
[centers.manila]
city = "Manila"
country = "PH"
timezone = "Asia/Manila"
connect = { queue = "acme-manila" }

[centers.bangalore]
city = "Bangalore"
country = "IN"
timezone = "Asia/Kolkata"
hours = { "mon-fri" = "07:00-23:00" }
connect = { sip = "sip:agents@bangalore.acme.example.com" }

[centers.scranton]
city = "Scranton"
country = "US"
timezone = "America/New_York"
connect = { number = "+15705550123" }
"""

NUMBERS = """\
[numbers."+18005550100"]
flow = "support"
label = "Customer support"
"""

SUPPORT = """\
[flows.support]
start = "greet"
domestic = "scranton"

[flows.support.states.greet]
type = "say"
text = "Thank you for calling."
next = "route"

[flows.support.states.route]
type = "route"
centers = ["manila", "scranton"]
next = "disclose"
closed = "sorry"

[flows.support.states.disclose]
type = "disclose"
text = "Your call will be answered by our team in {city}, {country}."
offer = "To speak with an agent in {home_country}, press 1 or say 'agent'."
next = "bridge"

[flows.support.states.bridge]
type = "bridge"
on_failure = "overflow"

[flows.support.states.overflow]
type = "overflow"
centers = ["bangalore", "scranton"]
next = "disclose"
exhausted = "sorry"

[flows.support.states.sorry]
type = "hangup"
text = "Sorry, nobody can take your call."
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"test setup: {old!r} not in the base file"
    return text.replace(old, new, 1)


def check(folder: Path, centers: str = CENTERS, numbers: str = NUMBERS,
          support: str = SUPPORT) -> list[FlowError]:
    folder.mkdir(exist_ok=True)
    for name, text in (("centers", centers), ("numbers", numbers), ("support", support)):
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    _, _, errors = check_folder(folder, "US")
    return errors


def the_error(errors: list[FlowError], file: Path, where: str, field: str) -> FlowError:
    """The one error at this place and field; its message names file, place and field."""
    found = [e for e in errors if e.where == where and e.field == field]
    assert len(found) == 1, f"expected one error at {where} field {field!r}, got {errors}"
    error = found[0]
    text = str(error)
    assert error.file == str(file)
    assert text.startswith(f"{file}:")
    assert where in text
    if field:
        assert f"field '{field}'" in text
    return error


def test_good_folder_has_no_errors(tmp_path):
    assert check(tmp_path) == []


def test_shipped_flows_pass_with_zero_errors():
    config, _, errors = check_folder(SHIPPED, "US")

    assert errors == []
    assert set(config.flows) == {"support", "billing"}
    assert set(config.centers) == {"manila", "bangalore", "scranton"}


def test_domestic_only_flow_needs_no_disclose_state(tmp_path):
    centers = """\
[centers.scranton]
city = "Scranton"
country = "US"
timezone = "America/New_York"
connect = { number = "+15705550123" }

[centers.dallas]
city = "Dallas"
country = "US"
timezone = "America/Chicago"
connect = { queue = "acme-dallas" }
"""
    support = """\
[flows.support]
start = "route"
domestic = "scranton"

[flows.support.states.route]
type = "route"
centers = ["dallas", "scranton"]
next = "bridge"
closed = "sorry"

[flows.support.states.bridge]
type = "bridge"
on_failure = "sorry"

[flows.support.states.sorry]
type = "hangup"
"""
    assert check(tmp_path, centers=centers, support=support) == []


# --- the domestic destination and the disclosure proof ----------------------------------------

def test_domestic_destination_outside_the_home_country_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'domestic = "scranton"', 'domestic = "manila"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "domestic")
    assert "center 'manila' is in PH, not the home country US" in error.message
    assert len(errors) == 1


def test_unknown_domestic_destination_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'domestic = "scranton"', 'domestic = "ohio"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "domestic")
    assert error.message == "names unknown center 'ohio'"


def test_bridge_to_offshore_center_without_disclosure_is_refused_with_the_path(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "disclose"\nclosed = "sorry"',
                                          'next = "bridge"\nclosed = "sorry"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "can bridge to offshore center 'manila' without a disclosure" in error.message
    assert error.message.endswith("on the path greet -> route -> bridge")
    assert "greet -> route -> bridge" in str(error)


def test_overflow_that_skips_the_disclosure_is_refused_with_the_path(tmp_path):
    # R4: the overflow chooses another center, so the caller must hear the new location
    errors = check(tmp_path, support=edit(
        SUPPORT, 'centers = ["bangalore", "scranton"]\nnext = "disclose"',
        'centers = ["bangalore", "scranton"]\nnext = "bridge"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "offshore center 'bangalore'" in error.message
    assert error.message.endswith(
        "on the path greet -> route -> disclose -> bridge -> overflow -> bridge")


def test_bridge_before_any_center_is_chosen_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'next = "bridge"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "bridges before any center is chosen" in error.message
    assert "greet -> bridge" in error.message


def test_overflow_after_a_domestic_transfer_may_skip_disclosure(tmp_path):
    # after the caller asked for a US agent only US centers can be chosen, so nothing to disclose
    support = SUPPORT + """
[flows.support.states.domestic]
type = "domestic"
on_failure = "retry"

[flows.support.states.retry]
type = "overflow"
centers = ["manila", "scranton"]
next = "direct"
exhausted = "sorry"

[flows.support.states.direct]
type = "bridge"
"""
    support = edit(support, 'exhausted = "sorry"', 'exhausted = "domestic"')
    assert check(tmp_path, support=support) == []


def test_disclosure_that_does_not_name_city_and_country_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, "our team in {city}, {country}.",
                                          "our team abroad."))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message == "must name the agent's {city} and {country}"


@pytest.mark.parametrize("line, field, message", [
    ('key = "12"', "key", "'12' must be one key: 0-9, * or #"),
    ("timeout = 0", "timeout", "must be between 1 and 30 seconds"),
    ("timeout = 45", "timeout", "must be between 1 and 30 seconds"),
])
def test_bad_disclose_options_are_refused(tmp_path, line, field, message):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "bridge"', f'next = "bridge"\n{line}'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", field)
    assert error.message == message


# --- references ------------------------------------------------------------------------------

def test_unknown_state_in_next_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'next = "rout"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "next")
    assert error.message == "names unknown state 'rout'"


@pytest.mark.parametrize("old, new, state, field", [
    ('closed = "sorry"', 'closed = "closd"', "route", "closed"),
    ('on_failure = "overflow"', 'on_failure = "overflw"', "bridge", "on_failure"),
    ('exhausted = "sorry"', 'exhausted = "nobody"', "overflow", "exhausted"),
])
def test_unknown_state_in_any_edge_is_refused(tmp_path, old, new, state, field):
    errors = check(tmp_path, support=edit(SUPPORT, old, new))

    error = the_error(errors, tmp_path / "support.toml", f"flow 'support' state '{state}'", field)
    assert error.message.startswith("names unknown state '")


def test_unknown_start_state_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'start = "greet"', 'start = "hello"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "start")
    assert error.message == "names unknown state 'hello'"


def test_unknown_center_in_a_route_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'centers = ["manila", "scranton"]',
                                          'centers = ["manila", "tokyo", "scranton"]'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'route'", "centers")
    assert error.message == "names unknown center 'tokyo'"


def test_weight_for_a_center_not_in_the_route_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(
        SUPPORT, 'centers = ["manila", "scranton"]',
        'centers = ["manila", "scranton"]\nstrategy = "weight"\n'
        'weights = { manila = 5, scranton = 1, bangalore = 3 }'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'route'",
                      "weights.bangalore")
    assert error.message == "is not one of this state's centers"


def test_number_naming_an_unknown_flow_is_refused(tmp_path):
    errors = check(tmp_path, numbers=edit(NUMBERS, 'flow = "support"', 'flow = "suport"'))

    error = the_error(errors, tmp_path / "numbers.toml", "number '+18005550100'", "flow")
    assert error.message == "names unknown flow 'suport'"


# --- numbers and connect targets ---------------------------------------------------------------

@pytest.mark.parametrize("key", ["+1800555", "18005550100", "+1 800 555 0100", "+10005550100"])
def test_invalid_e164_number_key_is_refused(tmp_path, key):
    errors = check(tmp_path, numbers=edit(NUMBERS, '"+18005550100"', f'"{key}"'))

    error = the_error(errors, tmp_path / "numbers.toml", f"number '{key}'", "")
    assert "is not a valid E.164 number" in error.message


@pytest.mark.parametrize("value", ["5705550123", "+1570555", "+1 570 555 0123", "tel:+15705550123"])
def test_invalid_e164_connect_number_is_refused(tmp_path, value):
    errors = check(tmp_path, centers=edit(CENTERS, '"+15705550123"', f'"{value}"'))

    error = the_error(errors, tmp_path / "centers.toml", "center 'scranton'", "connect.number")
    assert repr(value) in error.message and "E.164" in error.message


@pytest.mark.parametrize("connect, field", [
    ('{ sip = "agents@pbx.example.com" }', "connect.sip"),
    ('{ workflow = "WWnothex" }', "connect.workflow"),
    ('{ queue = "acme/manila" }', "connect.queue"),
    ('{ queue = "a", number = "+15705550123" }', "connect"),
    pytest.param("{}", "connect"),
])
def test_invalid_connect_target_is_refused(tmp_path, connect, field):
    errors = check(tmp_path, centers=edit(CENTERS, '{ queue = "acme-manila" }', connect))

    the_error(errors, tmp_path / "centers.toml", "center 'manila'", field)


# --- operator text -----------------------------------------------------------------------------

def test_xml_illegal_character_in_say_text_is_refused(tmp_path):
    # TOML's \u000b escape puts a raw vertical tab (\x0b) into the text
    errors = check(tmp_path, support=edit(SUPPORT, '"Thank you for calling."',
                                          '"Thank you\\u000b for calling."'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "text")
    assert error.message == "holds the XML-illegal character '\\x0b' at 9"


def test_unknown_placeholder_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, "{city}, {country}.",
                                          "{city}, {country}, near {town}."))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message.startswith("uses unknown placeholder {town}; known: ")
    assert "{city}" in error.message and "{home_country}" in error.message


def test_unknown_field_typo_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'nxet = "route"'))

    where = "flow 'support' state 'greet'"
    assert the_error(errors, tmp_path / "support.toml", where, "nxet").message == \
        "is not a known field"
    assert the_error(errors, tmp_path / "support.toml", where, "next").message == "is required"


def test_unknown_state_type_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'type = "hangup"', 'type = "hang-up"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'sorry'", "type")
    assert error.message.startswith("must be one of say, route, disclose")


# --- centers: time zone, hours, country --------------------------------------------------------

@pytest.mark.parametrize("zone", ["Asia/Manilla", "PHT", "UTC+8", "asia/manila"])
def test_bad_time_zone_is_refused(tmp_path, zone):
    errors = check(tmp_path, centers=edit(CENTERS, '"Asia/Manila"', f'"{zone}"'))

    error = the_error(errors, tmp_path / "centers.toml", "center 'manila'", "timezone")
    assert "is not an IANA time zone" in error.message


@pytest.mark.parametrize("hours, message", [
    ('{ "mon-fri" = "8am-5pm" }', "'8am' is not a time like 08:30"),
    ('{ "mon-fry" = "07:00-23:00" }', "'mon-fry' is not a day range like mon-fri"),
    ('{ "weekdays" = "07:00-23:00" }', "'weekdays' is not a day (mon, tue, ... sun)"),
    ('{ "mon-fri" = "07:00" }', "'07:00' is not a range like 08:00-20:00"),
    ('{ "mon-fri" = 7 }', "'mon-fri' must map to text like \"08:00-20:00\""),
    ('"always"', 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
])
def test_bad_hours_are_refused(tmp_path, hours, message):
    errors = check(tmp_path, centers=edit(CENTERS, '{ "mon-fri" = "07:00-23:00" }', hours))

    error = the_error(errors, tmp_path / "centers.toml", "center 'bangalore'", "hours")
    assert error.message == message


@pytest.mark.parametrize("country", [
    "XX",
    "ph",
    "PHL",
    pytest.param("ZZ"),
    pytest.param("EU"),
])
def test_bad_country_code_is_refused(tmp_path, country):
    errors = check(tmp_path, centers=edit(CENTERS, 'country = "PH"', f'country = "{country}"'))

    error = the_error(errors, tmp_path / "centers.toml", "center 'manila'", "country")
    assert error.message == f"{country!r} is not an ISO 3166 alpha-2 code like PH"


@pytest.mark.parametrize("old, new, field", [
    ('city = "Manila"', 'city = ""', "city"),
    ('country = "PH"', 'country = ""', "country"),
    ('timezone = "Asia/Manila"', 'timezone = ""', "timezone"),
])
def test_empty_required_center_field_is_refused(tmp_path, old, new, field):
    errors = check(tmp_path, centers=edit(CENTERS, old, new))

    the_error(errors, tmp_path / "centers.toml", "center 'manila'", field)


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    centers = edit(edit(CENTERS, '"Asia/Manila"', '"Asia/Manilla"'), 'country = "IN"',
                   'country = "XX"')
    errors = check(tmp_path, centers=centers,
                   support=edit(SUPPORT, 'next = "route"', 'next = "rout"'))

    assert {(Path(e.file).name, e.where, e.field) for e in errors} >= {
        ("centers.toml", "center 'manila'", "timezone"),
        ("centers.toml", "center 'bangalore'", "country"),
        ("support.toml", "flow 'support' state 'greet'", "next"),
    }


# --- loops -------------------------------------------------------------------------------------

def test_say_to_say_loop_is_refused(tmp_path):
    support = edit(SUPPORT, 'next = "route"', 'next = "again"') + """
[flows.support.states.again]
type = "say"
text = "Please hold."
next = "greet"
"""
    errors = check(tmp_path, support=support)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "next")
    assert error.message == "loops without waiting for the caller: greet -> again -> greet"


def test_loop_that_waits_only_at_a_disclosure_is_refused(tmp_path):
    support = edit(SUPPORT, 'next = "bridge"', 'next = "menu"') + """
[flows.support.states.menu]
type = "say"
text = "Please hold."
next = "route"
"""
    config, _, errors = check_folder(_write(tmp_path, support), "US")
    # the engine cannot run this flow: Manila is disclosed once, then the loop never waits again
    flow, now = config.flows["support"], datetime(2025, 3, 5, 12, tzinfo=timezone.utc)
    facts = Facts("CA1", now, config.centers, "US")
    with pytest.raises(RuntimeError):  # today a RecursionError; see test_engine
        resume(flow, begin(flow, facts).call, Silence(), facts)

    assert any(e.field == "next" and "loops" in e.message for e in errors), errors


def _write(folder: Path, support: str) -> Path:
    check(folder, support=support)
    return folder


# --- files -------------------------------------------------------------------------------------

def test_toml_syntax_error_names_the_file(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'start = "greet"', "start = "))

    assert len(errors) >= 1
    broken = [e for e in errors if e.file == str(tmp_path / "support.toml")]
    assert len(broken) == 1
    assert str(broken[0]).startswith(f"{tmp_path / 'support.toml'}:")
    assert "cannot be read" in broken[0].message


def test_unknown_section_is_refused(tmp_path):
    errors = check(tmp_path, numbers=NUMBERS + '\n[center.tokyo]\ncity = "Tokyo"\n')

    error = the_error(errors, tmp_path / "numbers.toml", "", "center")
    assert error.message.startswith("is not a known section")


def test_center_defined_in_two_files_is_refused(tmp_path):
    duplicate = '[centers.manila]\ncity = "Manila"\n'
    errors = check(tmp_path, numbers=NUMBERS + "\n" + duplicate)

    error = the_error(errors, tmp_path / "numbers.toml", "center 'manila'", "")
    assert error.message == f"is already defined in {tmp_path / 'centers.toml'}"


def test_empty_folder_is_refused(tmp_path):
    _, _, errors = check_folder(tmp_path, "US")

    assert [e.message for e in errors] == ["holds no *.toml files"]
