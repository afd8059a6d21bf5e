"""Rule sets (issue 15): the table shipped with Onshore, and `ivr check` proving what a
line's rule set asks (city alone or city and country, the offer inside the disclosure, the
disclosure before any menu) and that a home_only line can never leave the home country."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.rulesets import DEFAULT, REQUIREMENTS, RULE_SETS, RuleSetError, combined, labels, named
from tests.test_check import CENTERS, NUMBERS, SUPPORT, check, edit, the_error

CITY_ONLY = edit(SUPPORT, "our team in {city}, {country}.", "our team in {city}.")
POLICY = """\
[policy]
transfer_numbers = ["+15705550123"]
queues = ["acme-manila"]
sip_domains = ["bangalore.acme.example.com"]
"""


def with_policy(rules: str = "", *more: str) -> str:
    return POLICY + (f"rules = {rules}\n" if rules else "") + "".join(f"{line}\n" for line in more)


def numbers(extra: str = "") -> str:
    return NUMBERS + extra


def test_every_shipped_rule_set_is_versioned_and_names_known_requirements():
    assert DEFAULT == "us-2025"
    assert {"us-2025", "us-2019", "us-2013", "nj-2020"} <= set(RULE_SETS)
    for name, rules in RULE_SETS.items():
        assert rules.name == name
        assert rules.version >= 1
        assert rules.bills and rules.source
        assert set(rules.requirements) <= set(REQUIREMENTS), name
        assert "city" in rules.place
    assert RULE_SETS["us-2025"].offer_in_disclosure and RULE_SETS["us-2025"].automated_notice
    assert RULE_SETS["us-2013"].place == ("city",)
    assert not RULE_SETS["us-2013"].offer_in_disclosure


def test_the_readme_table_says_what_each_rule_set_asks():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for rules in RULE_SETS.values():
        place = " and ".join("`{" + p + "}`" for p in rules.place)
        row = (
            f"| `{rules.name}` v{rules.version} | {' / '.join(rules.bills)} | "
            f"{', '.join(rules.requirements)} | {place} | {'yes' if rules.offer_in_disclosure else 'no'} | "
            f"{rules.timing} | {'required' if rules.automated_notice else 'not required'} |"
        )
        assert row in readme, row


def test_a_line_follows_one_federal_rule_set_and_may_add_new_jersey():
    assert named("us-2019") == ("us-2019",)
    assert named(["us-2013", "nj-2020", "us-2013"]) == ("us-2013", "nj-2020")
    with pytest.raises(RuleSetError, match="a line follows one federal rule set"):
        named(["us-2013", "us-2025"])
    with pytest.raises(RuleSetError, match="'us-1999' is not a rule set; known: us-2025"):
        named("us-2019 us-1999".split())
    with pytest.raises(RuleSetError, match="must be a rule set's name"):
        named([])


def test_combined_rule_sets_take_every_requirement_and_the_strictest_parameters():
    both = combined(["us-2013", "nj-2020"])

    assert both.name == "us-2013+nj-2020"
    assert both.parts == ("us-2013", "nj-2020")
    assert both.place == ("city", "country")  # nj-2020 keeps Onshore's own city and country
    assert set(both.requirements) == {"R1", "R2", "R3", "R4", "R5", "R6", "R7", "R11", "R17", "R20"}
    assert both.reports == ("dol-offshore-share", "nj-volume")
    assert combined(["us-2025"]) is RULE_SETS["us-2025"]
    assert labels(["us-2019", "nj-2020"]) == "us-2019:1,nj-2020:1"


def test_city_only_disclosure_is_refused_under_the_default_us_2025(tmp_path):
    errors = check(tmp_path, support=CITY_ONLY)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message == "must name the agent's {city} and {country} (rule set us-2025)"


def test_city_only_disclosure_is_accepted_under_us_2013(tmp_path):
    (tmp_path / "policy.toml").write_text(with_policy('"us-2013"'), encoding="utf-8")

    assert check(tmp_path, support=CITY_ONLY) == []


@pytest.mark.parametrize("rules", ['"us-2019"', '["us-2013", "nj-2020"]'])
def test_city_only_disclosure_is_refused_where_the_rule_set_asks_for_the_country(tmp_path, rules):
    (tmp_path / "policy.toml").write_text(with_policy(rules), encoding="utf-8")

    errors = check(tmp_path, support=CITY_ONLY)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message.startswith("must name the agent's {city} and {country} (rule set us-")


def test_a_number_under_a_stricter_rule_set_makes_its_flow_meet_it(tmp_path):
    (tmp_path / "policy.toml").write_text(with_policy('"us-2013"'), encoding="utf-8")
    strict = numbers('\n[numbers."+18005550101"]\nflow = "support"\nrules = "us-2025"\n')

    errors = check(tmp_path, numbers=strict, support=CITY_ONLY)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "text")
    assert error.message == "must name the agent's {city} and {country} (rule set us-2013+us-2025)"


def test_an_offer_that_does_not_say_how_is_refused_under_us_2025_only(tmp_path):
    vague = edit(SUPPORT, "press 1 or say 'agent'.", "just ask.")

    errors = check(tmp_path, support=vague)
    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'disclose'", "offer")
    assert "name the transfer key ({key} or '1') (rule set us-2025)" in error.message

    (tmp_path / "policy.toml").write_text(with_policy('"us-2013"'), encoding="utf-8")
    assert check(tmp_path, support=vague) == []


@pytest.mark.parametrize(
    "value, message",
    [
        ('"us-1999"', "'us-1999' is not a rule set; known: us-2025, us-2019, us-2013, nj-2020"),
        ('["us-2019", "us-2025"]', "names us-2019 and us-2025: a line follows one federal rule set"),
        ("3", "must be a rule set's name or a list of them"),
    ],
)
def test_an_unknown_rule_set_is_refused_in_the_policy_and_in_a_number(tmp_path, value, message):
    (tmp_path / "policy.toml").write_text(with_policy(value), encoding="utf-8")
    errors = check(tmp_path, numbers=numbers(f"rules = {value}\n"))

    assert the_error(errors, tmp_path / "policy.toml", "policy", "rules").message.startswith(message)
    number = the_error(errors, tmp_path / "numbers.toml", "number '+18005550100'", "rules")
    assert number.message.startswith(message)


MENU_FIRST = edit(
    SUPPORT,
    "[flows.support.states.route]",
    """[flows.support.states.menu]
type = "menu"
prompt = "For billing, press 2."
options = { "2" = "route" }
no_input = "route"
invalid = "route"

[flows.support.states.route]""",
).replace('next = "route"', 'next = "menu"', 1)


def test_a_menu_before_the_disclosure_is_refused_when_the_policy_discloses_at_the_call_start(tmp_path):
    assert check(tmp_path, support=MENU_FIRST) == []  # us-2025 as Onshore reads it: before the bridge

    (tmp_path / "policy.toml").write_text(with_policy("", 'timing = "call-start"'), encoding="utf-8")
    errors = check(tmp_path, support=MENU_FIRST)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'menu'", "")
    assert error.message.startswith(
        "comes before the disclosure of a center abroad on the path greet -> menu -> route; "
        "under rule set us-2025 the disclosure comes at the beginning of the call"
    )


def test_a_bad_timing_is_refused(tmp_path):
    (tmp_path / "policy.toml").write_text(with_policy("", 'timing = "whenever"'), encoding="utf-8")

    errors = check(tmp_path)

    assert (
        "must be one of before-bridge, call-start"
        in the_error(errors, tmp_path / "policy.toml", "policy", "timing").message
    )


HOME_ONLY = numbers('\n[numbers."+18005550199"]\nflow = "support"\nhome_only = true\n')


def test_a_home_only_number_whose_flow_can_reach_manila_is_refused_with_the_path(tmp_path):
    errors = check(tmp_path, numbers=HOME_ONLY)

    found = [e for e in errors if e.where == "number '+18005550199'" and e.field == "home_only"]
    assert [e.message for e in found] == [
        "flow 'support' can reach center 'manila' in Manila, PH, outside the home country US, "
        "on the path greet -> route",
        "flow 'support' can reach center 'bangalore' in Bangalore, IN, outside the home country US, "
        "on the path greet -> route -> disclose -> bridge -> overflow",
    ]
    assert all(e.file == str(tmp_path / "numbers.toml") for e in found)
    assert len(errors) == len(found)  # the other number, not home_only, may go abroad


def test_a_home_only_number_whose_flow_stays_home_is_accepted(tmp_path):
    home = SUPPORT.replace('["manila", "scranton"]', '["scranton"]').replace(
        '["bangalore", "scranton"]', '["scranton"]'
    )

    assert check(tmp_path, numbers=HOME_ONLY, support=home) == []


def test_a_home_only_number_may_not_hand_the_call_to_an_application_onshore_cannot_follow(tmp_path):
    home = SUPPORT.replace('["manila", "scranton"]', '["scranton"]').replace(
        '["bangalore", "scranton"]', '["scranton"]'
    )
    handoff = edit(
        home, 'type = "hangup"', 'type = "handoff"\nurl = "https://ivr.acme.example.com/legacy"'
    ).replace('text = "Sorry, nobody can take your call."\n', "")
    (tmp_path / "policy.toml").write_text(
        with_policy("", 'url_hosts = ["ivr.acme.example.com"]'), encoding="utf-8"
    )

    errors = check(tmp_path, numbers=HOME_ONLY, support=handoff)

    error = the_error(errors, tmp_path / "numbers.toml", "number '+18005550199'", "home_only")
    assert error.message.startswith(
        "flow 'support' hands the call to https://ivr.acme.example.com/legacy, where Onshore "
        "cannot see who answers, on the path greet -> route -> sorry"
    )


def test_home_only_must_be_true_or_false(tmp_path):
    errors = check(tmp_path, numbers=numbers('home_only = "yes"\n'))

    assert (
        "must be true or false"
        in the_error(errors, tmp_path / "numbers.toml", "number '+18005550100'", "home_only").message
    )


def test_centers_fixture_has_the_offshore_centers_these_tests_name():
    assert 'country = "PH"' in CENTERS and 'country = "IN"' in CENTERS


BOT = edit(
    SUPPORT,
    "[flows.support.states.route]",
    """[flows.support.states.bot]
type = "automated"
relay = "wss://bots.acme.example.com/relay"
country = "PH"
city = "Manila"
notice = "An automated assistant run from {city}, {country}. Say 'agent' for a person in {home_country}."
next = "route"

[flows.support.states.route]""",
).replace('next = "route"', 'next = "bot"', 1)
BOT_POLICY = 'url_hosts = ["bots.acme.example.com"]'


def test_an_automated_agent_with_its_notice_is_accepted(tmp_path):
    (tmp_path / "policy.toml").write_text(with_policy("", BOT_POLICY), encoding="utf-8")

    assert check(tmp_path, support=BOT) == []


def test_an_automated_agent_without_the_notice_is_refused_under_us_2025_and_not_under_us_2019(tmp_path):
    silent = "\n".join(line for line in BOT.splitlines() if not line.startswith("notice ="))
    (tmp_path / "policy.toml").write_text(with_policy("", BOT_POLICY), encoding="utf-8")

    errors = check(tmp_path, support=silent)

    error = the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bot'", "notice")
    assert error.message.startswith("is required: the caller must hear that the agent is automated")
    assert error.message.endswith("(rule set us-2025)")

    (tmp_path / "policy.toml").write_text(with_policy('"us-2019"', BOT_POLICY), encoding="utf-8")
    assert check(tmp_path, support=silent) == []


@pytest.mark.parametrize(
    "notice, message",
    [
        (
            "An automated assistant will help you. Say 'agent' for a person in {home_country}.",
            "must name where the bot's operator sits, {country}: it is abroad (rule set us-2025)",
        ),
        (
            "An automated assistant in {city}, {country} will help you.",
            "must say 'agent', the word that reaches a human in the home country (rule set us-2025)",
        ),
    ],
)
def test_an_automated_agents_notice_must_say_where_and_how_to_reach_a_human(tmp_path, notice, message):
    (tmp_path / "policy.toml").write_text(with_policy("", BOT_POLICY), encoding="utf-8")
    support = BOT.replace(BOT.split("notice = ")[1].split("\n")[0], f'"{notice}"')

    errors = check(tmp_path, support=support)

    assert (
        the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bot'", "notice").message
        == message
    )


def test_an_automated_agents_relay_must_be_a_wss_url_on_the_policys_hosts(tmp_path):
    (tmp_path / "policy.toml").write_text(with_policy(""), encoding="utf-8")
    errors = check(tmp_path, support=BOT)
    assert (
        "host 'bots.acme.example.com' is not on the policy's url_hosts allowlist"
        in the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bot'", "relay").message
    )

    (tmp_path / "policy.toml").write_text(with_policy("", BOT_POLICY), encoding="utf-8")
    errors = check(tmp_path, support=BOT.replace("wss://", "https://"))
    assert (
        "is not a wss:// URL"
        in the_error(errors, tmp_path / "support.toml", "flow 'support' state 'bot'", "relay").message
    )


def test_a_home_only_number_may_not_reach_a_bot_run_from_abroad(tmp_path):
    home = BOT.replace('["manila", "scranton"]', '["scranton"]').replace(
        '["bangalore", "scranton"]', '["scranton"]'
    )
    (tmp_path / "policy.toml").write_text(with_policy("", BOT_POLICY), encoding="utf-8")

    errors = check(tmp_path, numbers=HOME_ONLY, support=home)

    error = the_error(errors, tmp_path / "numbers.toml", "number '+18005550199'", "home_only")
    assert error.message == (
        "flow 'support' hands the call to an automated agent operated from PH, outside the "
        "home country US, on the path greet -> bot"
    )
