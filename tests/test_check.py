"""`ivr check` on small operator folders: every mistake is refused, naming file, place and field.

Each test writes a known-good folder (centers.toml, numbers.toml, support.toml) into tmp_path,
breaks one thing, and expects check_folder to refuse exactly that thing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.check import check_folder
from ivr.engine import begin, resume
from ivr.errors import FlowError
from ivr.vocabulary import Facts, Silence

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


def check(
    folder: Path, centers: str = CENTERS, numbers: str = NUMBERS, support: str = SUPPORT
) -> list[FlowError]:
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
    errors = check(
        tmp_path,
        support=edit(SUPPORT, 'next = "disclose"\nclosed = "sorry"', 'next = "bridge"\nclosed = "sorry"'),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "can bridge to offshore center 'manila' without a disclosure" in error.message
    assert error.message.endswith("on the path greet -> route -> bridge")
    assert "greet -> route -> bridge" in str(error)


def test_overflow_that_skips_the_disclosure_is_refused_with_the_path(tmp_path):
    # R4: the overflow chooses another center, so the caller must hear the new location
    errors = check(
        tmp_path,
        support=edit(
            SUPPORT,
            'centers = ["bangalore", "scranton"]\nnext = "disclose"',
            'centers = ["bangalore", "scranton"]\nnext = "bridge"',
        ),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "offshore center 'bangalore'" in error.message
    assert error.message.endswith("on the path greet -> route -> disclose -> bridge -> overflow -> bridge")


def test_bridge_before_any_center_is_chosen_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'next = "bridge"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert "bridges before any center is chosen" in error.message
    assert "greet -> bridge" in error.message


def test_overflow_after_a_domestic_transfer_may_skip_disclosure(tmp_path):
    # after the caller asked for a US agent only US centers can be chosen, so nothing to disclose
    support = (
        SUPPORT
        + """
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
    )
    support = edit(support, 'exhausted = "sorry"', 'exhausted = "domestic"')
    assert check(tmp_path, support=support) == []


def test_disclosure_that_does_not_name_city_and_country_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, "our team in {city}, {country}.", "our team abroad."))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message == "must name the agent's {city} and {country} (rule set us-2025)"


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('key = "2"', "key", "is set once for the whole flow: use transfer_key in the flow's table"),
        (
            'keywords = ["help"]',
            "keywords",
            "is set once for the whole flow: use transfer_words in the flow's table",
        ),
        ("timeout = 0", "timeout", "must be between 1 and 30 seconds"),
        ("timeout = 45", "timeout", "must be between 1 and 30 seconds"),
        ("retries = 6", "retries", "must be between 0 and 5"),
        ('invalid = "nowhere"', "invalid", "names unknown state 'nowhere'"),
    ],
)
def test_bad_disclose_options_are_refused(tmp_path, line, field, message):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "bridge"', f'next = "bridge"\n{line}'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", field)
    assert error.message == message


def test_input_not_understood_at_a_disclosure_may_lead_to_a_state_that_routes_again(tmp_path):
    # invalid leaves the disclosure with no center chosen: a new route and disclosure is fine
    support = edit(SUPPORT, 'next = "bridge"', 'next = "bridge"\nretries = 1\ninvalid = "route"')
    assert check(tmp_path, support=support) == []


def test_input_not_understood_at_a_disclosure_never_bridges_what_it_was_not_told(tmp_path):
    # the caller's answer was not understood: that is no consent, so no bridge may follow
    support = edit(SUPPORT, 'next = "bridge"', 'next = "bridge"\ninvalid = "bridge"')
    errors = check(tmp_path, support=support)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert error.message == (
        "bridges before any center is chosen on the path greet -> route -> disclose -> bridge"
    )


@pytest.mark.parametrize(
    "value, message",
    [
        ("1.5", "must be a number between 0 and 1, not the number 1.5"),
        ("true", "must be a number between 0 and 1, not the value true"),
        ('"high"', 'must be a number, not the text "high"'),
        ('"0"', 'must be a number, not the text "0"'),
    ],
)
def test_bad_min_confidence_is_refused(tmp_path, value, message):
    errors = check(
        tmp_path,
        support=edit(SUPPORT, 'domestic = "scranton"', f'domestic = "scranton"\nmin_confidence = {value}'),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "min_confidence")
    assert error.message == message


def test_hash_as_the_transfer_key_is_refused_as_twilio_ends_input_on_it(tmp_path):
    errors = check(
        tmp_path, support=edit(SUPPORT, 'domestic = "scranton"', 'domestic = "scranton"\ntransfer_key = "#"')
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "transfer_key")
    assert error.message == (
        "'#' ends the caller's input in Twilio's <Gather> (finishOnKey): "
        "pressed alone it is no key at all; use 0-9 or *"
    )


@pytest.mark.parametrize("key", ["12", "a", ""])
def test_bad_transfer_key_is_refused(tmp_path, key):
    errors = check(
        tmp_path,
        support=edit(SUPPORT, 'domestic = "scranton"', f'domestic = "scranton"\ntransfer_key = "{key}"'),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "transfer_key")
    assert error.message == f"{key!r} must be one key: 0-9, * or #"


# --- references ------------------------------------------------------------------------------


def test_unknown_state_in_next_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'next = "rout"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "next")
    assert error.message == "names unknown state 'rout'"


@pytest.mark.parametrize(
    "old, new, state, field",
    [
        ('closed = "sorry"', 'closed = "closd"', "route", "closed"),
        ('on_failure = "overflow"', 'on_failure = "overflw"', "bridge", "on_failure"),
        ('exhausted = "sorry"', 'exhausted = "nobody"', "overflow", "exhausted"),
    ],
)
def test_unknown_state_in_any_edge_is_refused(tmp_path, old, new, state, field):
    errors = check(tmp_path, support=edit(SUPPORT, old, new))

    error = the_error(errors, tmp_path / "support.toml", f"flow 'support' state '{state}'", field)
    assert error.message.startswith("names unknown state '")


def test_unknown_start_state_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'start = "greet"', 'start = "hello"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support'", "start")
    assert error.message == "names unknown state 'hello'"


def test_unknown_center_in_a_route_is_refused(tmp_path):
    errors = check(
        tmp_path,
        support=edit(
            SUPPORT, 'centers = ["manila", "scranton"]', 'centers = ["manila", "tokyo", "scranton"]'
        ),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'route'", "centers")
    assert error.message == "names unknown center 'tokyo'"


def test_weight_for_a_center_not_in_the_route_is_refused(tmp_path):
    errors = check(
        tmp_path,
        support=edit(
            SUPPORT,
            'centers = ["manila", "scranton"]',
            'centers = ["manila", "scranton"]\nstrategy = "weight"\n'
            "weights = { manila = 5, scranton = 1, bangalore = 3 }",
        ),
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'route'", "weights.bangalore")
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


@pytest.mark.parametrize(
    "connect, field",
    [
        ('{ sip = "agents@pbx.example.com" }', "connect.sip"),
        ('{ workflow = "WWnothex" }', "connect.workflow"),
        ('{ queue = "acme/manila" }', "connect.queue"),
        ('{ queue = "a", number = "+15705550123" }', "connect"),
        pytest.param("{}", "connect"),
    ],
)
def test_invalid_connect_target_is_refused(tmp_path, connect, field):
    errors = check(tmp_path, centers=edit(CENTERS, '{ queue = "acme-manila" }', connect))

    the_error(errors, tmp_path / "centers.toml", "center 'manila'", field)


# --- operator text -----------------------------------------------------------------------------


def test_xml_illegal_character_in_say_text_is_refused(tmp_path):
    # TOML's \u000b escape puts a raw vertical tab (\x0b) into the text
    errors = check(
        tmp_path, support=edit(SUPPORT, '"Thank you for calling."', '"Thank you\\u000b for calling."')
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "text")
    assert error.message == "holds the XML-illegal character '\\x0b' at 9"


def test_unknown_placeholder_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, "{city}, {country}.", "{city}, {country}, near {town}."))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message.startswith("uses unknown placeholder {town}; known: ")
    assert "{city}" in error.message and "{home_country}" in error.message


def test_unknown_field_typo_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'nxet = "route"'))

    where = "flow 'support' state 'greet'"
    assert the_error(errors, tmp_path / "support.toml", where, "nxet").message == "is not a known field"
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


@pytest.mark.parametrize(
    "hours, message",
    [
        ('{ "mon-fri" = "8am-5pm" }', "'8am' is not a time like 08:30"),
        ('{ "mon-fry" = "07:00-23:00" }', "'mon-fry' is not a day range like mon-fri"),
        ('{ "weekdays" = "07:00-23:00" }', "'weekdays' is not a day (mon, tue, ... sun)"),
        ('{ "mon-fri" = "07:00" }', "'07:00' is not a range like 08:00-20:00"),
        ('{ "mon-fri" = 7 }', "'mon-fri' must map to text like \"08:00-20:00\""),
        ('"always"', 'expected "24/7" or a table like { "mon-fri" = "08:00-20:00" }'),
    ],
)
def test_bad_hours_are_refused(tmp_path, hours, message):
    errors = check(tmp_path, centers=edit(CENTERS, '{ "mon-fri" = "07:00-23:00" }', hours))

    error = the_error(errors, tmp_path / "centers.toml", "center 'bangalore'", "hours")
    assert error.message == message


@pytest.mark.parametrize(
    "country",
    [
        "XX",
        "ph",
        "PHL",
        pytest.param("ZZ"),
        pytest.param("EU"),
    ],
)
def test_bad_country_code_is_refused(tmp_path, country):
    errors = check(tmp_path, centers=edit(CENTERS, 'country = "PH"', f'country = "{country}"'))

    error = the_error(errors, tmp_path / "centers.toml", "center 'manila'", "country")
    assert error.message == f"{country!r} is not an ISO 3166 alpha-2 code like PH"


@pytest.mark.parametrize(
    "old, new, field",
    [
        ('city = "Manila"', 'city = ""', "city"),
        ('country = "PH"', 'country = ""', "country"),
        ('timezone = "Asia/Manila"', 'timezone = ""', "timezone"),
    ],
)
def test_empty_required_center_field_is_refused(tmp_path, old, new, field):
    errors = check(tmp_path, centers=edit(CENTERS, old, new))

    the_error(errors, tmp_path / "centers.toml", "center 'manila'", field)


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    centers = edit(edit(CENTERS, '"Asia/Manila"', '"Asia/Manilla"'), 'country = "IN"', 'country = "XX"')
    errors = check(tmp_path, centers=centers, support=edit(SUPPORT, 'next = "route"', 'next = "rout"'))

    assert {(Path(e.file).name, e.where, e.field) for e in errors} >= {
        ("centers.toml", "center 'manila'", "timezone"),
        ("centers.toml", "center 'bangalore'", "country"),
        ("support.toml", "flow 'support' state 'greet'", "next"),
    }


# --- loops -------------------------------------------------------------------------------------


def test_say_to_say_loop_is_refused(tmp_path):
    support = (
        edit(SUPPORT, 'next = "route"', 'next = "again"')
        + """
[flows.support.states.again]
type = "say"
text = "Please hold."
next = "greet"
"""
    )
    errors = check(tmp_path, support=support)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "next")
    assert error.message == "loops without waiting for the caller: greet -> again -> greet"


def test_loop_that_waits_only_at_a_disclosure_is_refused(tmp_path):
    support = (
        edit(SUPPORT, 'next = "bridge"', 'next = "menu"')
        + """
[flows.support.states.menu]
type = "say"
text = "Please hold."
next = "route"
"""
    )
    config, _, errors = check_folder(_write(tmp_path, support), "US")
    # the engine cannot run this flow: Manila is disclosed once, then the loop never waits again
    flow, now = config.flows["support"], datetime(2025, 3, 5, 12, tzinfo=UTC)
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


# --- menus after a disclosure: the domestic request must stay reachable (R7, R9) ---------------

HOLD_MENU = """
[flows.support.states.hold_menu]
type = "menu"
prompt = "To wait for the next agent, press 2 or say 'wait'."
options = { "2" = "bridge" }
words = { wait = "bridge" }
no_input = "bridge"
invalid = "bridge"
"""


def with_hold_menu(menu: str = HOLD_MENU) -> str:
    """The base flow with a menu between the disclosure and the bridge."""
    return (
        edit(
            SUPPORT,
            'next = "bridge"\n\n[flows.support.states.bridge]',
            'next = "hold_menu"\n\n[flows.support.states.bridge]',
        )
        + menu
    )


def test_menu_after_a_disclosure_passes_when_it_leaves_the_transfer_free(tmp_path):
    assert check(tmp_path, support=with_hold_menu()) == []


@pytest.mark.parametrize(
    "old, new, field, message",
    [
        (
            'options = { "2" = "bridge" }',
            'options = { "1" = "bridge", "2" = "bridge" }',
            "options.1",
            "uses the transfer key '1' after a disclosure, where it asks for an agent in the home country",
        ),
        (
            'words = { wait = "bridge" }',
            'words = { wait = "bridge", "talk to an agent" = "bridge" }',
            "words.en.talk to an agent",
            "holds the transfer word 'agent' after a disclosure, where it asks for an agent in the home "
            "country",
        ),
    ],
)
def test_menu_with_no_way_to_reach_the_domestic_agent_is_refused_with_the_path(
    tmp_path, old, new, field, message
):
    errors = check(tmp_path, support=with_hold_menu(edit(HOLD_MENU, old, new)))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'hold_menu'", field)
    assert error.message == f"{message} on the path greet -> route -> disclose -> hold_menu"


def test_transfer_key_in_a_menu_before_any_disclosure_is_fine(tmp_path):
    menu = """
[flows.support.states.main]
type = "menu"
prompt = "For billing, press 1. For agent status, say agent."
options = { "1" = "route" }
words = { agent = "route" }
no_input = "route"
invalid = "route"
"""
    assert check(tmp_path, support=edit(SUPPORT, 'start = "greet"', 'start = "main"') + menu) == []


@pytest.mark.parametrize(
    "old, new, field, message",
    [
        (
            'options = { "2" = "bridge" }',
            'options = { "22" = "bridge" }',
            "options.22",
            "must be one key: 0-9, * or #",
        ),
        ('options = { "2" = "bridge" }', "options = {}", "options", "must hold at least one key"),
        (
            'options = { "2" = "bridge" }',
            'options = { "#" = "bridge" }',
            "options.#",
            "'#' ends the caller's input in Twilio's <Gather> (finishOnKey): pressed alone it is no "
            "key at all; use 0-9 or *",
        ),
        (
            'options = { "2" = "bridge" }',
            'options = { "2" = "brige" }',
            "options.2",
            "names unknown state 'brige'",
        ),
        (
            'words = { wait = "bridge" }',
            'words = { "wait, please" = "bridge" }',
            "words.wait, please",
            "must be a word or phrase of letters, digits, spaces, ' and - (at most 40)",
        ),
        ('invalid = "bridge"', 'invalid = "nowhere"', "invalid", "names unknown state 'nowhere'"),
        ('invalid = "bridge"', 'invalid = "bridge"\nretries = 9', "retries", "must be between 0 and 5"),
        ('invalid = "bridge"', "", "invalid", "is required"),
    ],
)
def test_bad_menu_fields_are_refused(tmp_path, old, new, field, message):
    errors = check(tmp_path, support=with_hold_menu(edit(HOLD_MENU, old, new)))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'hold_menu'", field)
    assert error.message == message


# --- more paths the proof refuses ----------------------------------------------------------------


def test_disclosure_before_any_center_is_chosen_is_refused(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'next = "route"', 'next = "disclose"'))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "")
    assert error.message == "discloses before any center is chosen on the path greet -> disclose"


def test_failed_bridge_that_bridges_again_without_choosing_is_refused(tmp_path):
    errors = check(
        tmp_path,
        support=edit(SUPPORT, 'on_failure = "overflow"', 'on_failure = "again"')
        + '\n[flows.support.states.again]\ntype = "bridge"\n',
    )

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'again'", "")
    assert error.message.startswith("bridges before any center is chosen on the path ")


def test_hours_branch_into_an_offshore_bridge_without_disclosure_is_refused(tmp_path):
    support = edit(SUPPORT, 'next = "disclose"\nclosed = "sorry"', 'next = "office"\nclosed = "sorry"')
    support += """
[flows.support.states.office]
type = "hours"
center = "manila"
open = "bridge"
closed = "disclose"
"""
    errors = check(tmp_path, support=support)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bridge'", "")
    assert error.message.endswith("on the path greet -> route -> office -> bridge")


# --- business hours ------------------------------------------------------------------------------

OFFICE = """
[flows.support.states.office]
type = "hours"
timezone = "America/New_York"
hours = { "mon-fri" = "09:00-17:00" }
holidays = ["2026-12-25"]
closures = [{ from = "2026-12-24T12:00", to = "2026-12-24T17:00" }]
open = "route"
closed = "sorry"
"""


def with_office(office: str = OFFICE) -> str:
    return edit(SUPPORT, 'next = "route"', 'next = "office"') + office


def test_hours_state_with_its_own_schedule_passes(tmp_path):
    assert check(tmp_path, support=with_office()) == []


@pytest.mark.parametrize(
    "old, new, field, message",
    [
        (
            'timezone = "America/New_York"\nhours = { "mon-fri" = "09:00-17:00" }\n'
            'holidays = ["2026-12-25"]\n'
            'closures = [{ from = "2026-12-24T12:00", to = "2026-12-24T17:00" }]\n',
            'center = "tokyo"\n',
            "center",
            "names unknown center 'tokyo'",
        ),
        (
            'timezone = "America/New_York"\n',
            'center = "manila"\ntimezone = "America/New_York"\n',
            "center",
            "give either a center or this state's own timezone and hours, not both",
        ),
        ('hours = { "mon-fri" = "09:00-17:00" }\n', "", "hours", "is required"),
        (
            '["2026-12-25"]',
            '["2026-12-32"]',
            "holidays",
            "'2026-12-32' is not a date or local time like \"2026-12-25\"",
        ),
        (
            '["2026-12-25"]',
            "[2026-12-25]",
            "holidays",
            'the unquoted date 2026-12-25 must be quoted text like "2026-12-25"',
        ),
        (
            'to = "2026-12-24T17:00"',
            'to = "2026-12-24T11:00"',
            "closures",
            "closure from 2026-12-24T12:00 to 2026-12-24T11:00 must end after it starts",
        ),
        (
            'to = "2026-12-24T17:00"',
            'until = "2026-12-24T17:00"',
            "closures",
            "{'from': '2026-12-24T12:00', 'until': '2026-12-24T17:00'} "
            "is not a table with exactly from and to",
        ),
        ('open = "route"', 'open = "rout"', "open", "names unknown state 'rout'"),
    ],
)
def test_bad_hours_state_is_refused(tmp_path, old, new, field, message):
    errors = check(tmp_path, support=with_office(edit(OFFICE, old, new)))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'office'", field)
    assert error.message == message


def test_center_holidays_and_closures_are_read(tmp_path):
    centers = edit(
        CENTERS,
        'hours = { "mon-fri" = "07:00-23:00" }',
        'hours = { "mon-fri" = "07:00-23:00" }\nholidays = ["2026-01-26", "2026-11-08"]\n'
        'closures = [{ from = "2026-06-12T18:00", to = "2026-06-15T07:00" }]',
    )
    check(tmp_path, centers=centers)
    config, _, errors = check_folder(tmp_path, "US")

    assert errors == []
    bangalore = config.centers["bangalore"]
    assert sorted(str(d) for d in bangalore.holidays) == ["2026-01-26", "2026-11-08"]
    assert [(str(c.start), str(c.end)) for c in bangalore.closures] == [
        ("2026-06-12 18:00:00", "2026-06-15 07:00:00")
    ]


def test_closure_with_a_utc_offset_is_refused(tmp_path):
    centers = edit(
        CENTERS,
        'hours = { "mon-fri" = "07:00-23:00" }',
        'hours = { "mon-fri" = "07:00-23:00" }\n'
        'closures = [{ from = "2026-06-12T18:00+05:30", to = "2026-06-15T07:00" }]',
    )
    errors = check(tmp_path, centers=centers)

    error = the_error(errors, tmp_path / "centers.toml", "center 'bangalore'", "closures")
    assert "has a UTC offset; write the center's local time" in error.message


# --- allowlists ([policy]), hand-off and audio URLs --------------------------------------------

POLICY = """\
[policy]
transfer_numbers = ["+15705550123"]
queues = ["acme-manila"]
sip_domains = ["bangalore.acme.example.com"]
url_hosts = ["ivr.acme.example.com"]
"""

ORDERS = """
[flows.support.states.orders]
type = "handoff"
url = "https://ivr.acme.example.com/twiml/orders"
"""


def check_with_policy(
    folder: Path, policy: str = POLICY, centers: str = CENTERS, support: str = SUPPORT
) -> list[FlowError]:
    folder.mkdir(exist_ok=True)
    (folder / "policy.toml").write_text(policy, encoding="utf-8")
    return check(folder, centers=centers, support=support)


def test_folder_whose_targets_are_all_allowlisted_passes(tmp_path):
    assert check_with_policy(tmp_path, support=SUPPORT + ORDERS) == []


@pytest.mark.parametrize(
    "old, new, center, field, message",
    [
        (
            '{ queue = "acme-manila" }',
            '{ queue = "acme-cebu" }',
            "manila",
            "connect.queue",
            "'acme-cebu' is not on the policy's queues allowlist",
        ),
        (
            "sip:agents@bangalore.acme.example.com",
            "sip:agents@pbx.elsewhere.example.net",
            "bangalore",
            "connect.sip",
            "'pbx.elsewhere.example.net' is not on the policy's sip_domains allowlist",
        ),
        (
            '"+15705550123"',
            '"+15705550188"',
            "scranton",
            "connect.number",
            "'+15705550188' is not on the policy's transfer_numbers allowlist",
        ),
        (
            '{ queue = "acme-manila" }',
            '{ workflow = "WW0123456789abcdef0123456789abcdef" }',
            "manila",
            "connect.workflow",
            "'WW0123456789abcdef0123456789abcdef' is not on the policy's workflows allowlist",
        ),
    ],
)
def test_connect_target_off_the_allowlist_is_refused(tmp_path, old, new, center, field, message):
    errors = check_with_policy(tmp_path, centers=edit(CENTERS, old, new))

    error = the_error(errors, tmp_path / "centers.toml", f"center '{center}'", field)
    assert error.message == message


def test_allowlisted_number_outside_the_home_country_is_refused(tmp_path):
    errors = check_with_policy(
        tmp_path, policy=edit(POLICY, '["+15705550123"]', '["+15705550123", "+63285550123"]')
    )

    error = the_error(errors, tmp_path / "policy.toml", "policy", "transfer_numbers")
    assert error.message == ("+63285550123 is a PH number; only numbers in the home country US may be listed")


def test_allowlisted_number_of_no_country_says_so(tmp_path):
    errors = check_with_policy(
        tmp_path, policy=edit(POLICY, '["+15705550123"]', '["+15705550123", "+1570555012"]')
    )

    error = the_error(errors, tmp_path / "policy.toml", "policy", "transfer_numbers")
    assert error.message == "'+1570555012' is not a valid E.164 number like +15705550100"


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('queues = ["acme/manila"]', "queues", "'acme/manila' is not a queue name"),
        (
            'url_hosts = ["https://ivr.acme.example.com"]',
            "url_hosts",
            "'https://ivr.acme.example.com' is not a host name like media.example.com (no https://)",
        ),
        ('workflows = ["WW12"]', "workflows", "'WW12' is not a workflow SID (WW and 32 hex digits)"),
        (
            'transfer_numbers = ["5705550123"]',
            "transfer_numbers",
            "'5705550123' is not a valid E.164 number like +15705550100",
        ),
        ('queue = ["acme-manila"]', "queue", "is not a known field"),
    ],
)
def test_bad_policy_entries_are_refused(tmp_path, line, field, message):
    name = line.split(" =")[0]
    policy = "\n".join(entry for entry in POLICY.splitlines() if not entry.startswith(name + " "))
    errors = check_with_policy(tmp_path, policy=policy + "\n" + line + "\n")

    assert the_error(errors, tmp_path / "policy.toml", "policy", field).message == message


def test_two_policies_in_one_folder_are_refused(tmp_path):
    errors = check_with_policy(tmp_path, support=SUPPORT + "\n" + POLICY)

    error = the_error(errors, tmp_path / "support.toml", "policy", "")
    assert error.message == f"is already defined in {tmp_path / 'policy.toml'}; one per folder"


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "https://evil.example.net/twiml",
            "host 'evil.example.net' is not on the policy's url_hosts allowlist",
        ),
        (
            "http://ivr.acme.example.com/twiml/orders",
            "'http://ivr.acme.example.com/twiml/orders' is not an https:// URL",
        ),
        ("https://ivr.acme.example.com/a b", "'https://ivr.acme.example.com/a b' is not an https:// URL"),
    ],
)
def test_handoff_url_must_be_https_on_an_allowlisted_host(tmp_path, url, message):
    orders = edit(ORDERS, "https://ivr.acme.example.com/twiml/orders", url)
    errors = check_with_policy(tmp_path, support=SUPPORT + orders)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'orders'", "url")
    assert error.message == message


def test_handoff_without_a_policy_is_refused(tmp_path):
    errors = check(tmp_path, support=SUPPORT + ORDERS)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'orders'", "url")
    assert error.message == "needs a [policy] table whose url_hosts lists its host"


def test_audio_url_must_be_on_an_allowlisted_host(tmp_path):
    support = edit(
        SUPPORT,
        'text = "Thank you for calling."',
        'text = "Thank you for calling."\nplay = "https://cdn.example.org/chime.mp3"',
    )
    errors = check_with_policy(tmp_path, support=support)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "play")
    assert error.message == "host 'cdn.example.org' is not on the policy's url_hosts allowlist"


def test_say_state_needs_text_or_audio(tmp_path):
    errors = check(tmp_path, support=edit(SUPPORT, 'text = "Thank you for calling."\n', ""))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'greet'", "text")
    assert error.message == "is required"


def test_overlong_menu_prompt_is_refused(tmp_path):
    long_prompt = "Press 2 to wait. " * 70
    menu = edit(HOLD_MENU, "\"To wait for the next agent, press 2 or say 'wait'.\"", f'"{long_prompt}"')
    errors = check(tmp_path, support=with_hold_menu(menu))

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'hold_menu'", "prompt")
    assert error.message == f"is {len(long_prompt)} characters; at most 1000"


def test_xml_illegal_character_in_a_spanish_text_is_named_and_repaired(tmp_path):
    support = edit(
        SUPPORT,
        'text = "Sorry, nobody can take your call."',
        'text = { en = "Sorry.", es = "Lo\\u000c sentimos." }',
    )
    support = edit(support, 'domestic = "scranton"', 'domestic = "scranton"\nlanguages = ["en-US", "es-US"]')
    check(tmp_path, support=support)
    config, _, errors = check_folder(tmp_path, "US")

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'sorry'", "text.es")
    assert error.message == "holds the XML-illegal character '\\x0c' at 2" and error.repaired
    assert config.flows["support"].states["sorry"].text == {"en": "Sorry.", "es": "Lo sentimos."}
