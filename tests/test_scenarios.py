"""Scenarios: calls described in files and played without a phone, Redis or Flask.

The shipped scenarios (flows/acme.scenarios.toml) must pass and, together, take every branch
of the example flows. A wrong scenario must fail with the call's transcript, a wrong scenario
file must be refused naming the file, the scenario and the field, and ``ivr preview`` must
print what a caller hears without writing to Redis.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from ivr import keys, outcomes
from ivr.check import check_folder
from ivr.cli import main
from ivr.flow import (
    Bridge,
    Disclose,
    Domestic,
    Flow,
    Handoff,
    Hangup,
    Hours,
    LanguageMenu,
    Menu,
    Overflow,
    Route,
    translation,
)
from ivr.hearing import says
from ivr.outcomes import HELD
from ivr.scenarios import (
    Bridged,
    CenterState,
    Disclosure,
    Expect,
    Scenario,
    parse_input,
    parse_scenario,
    read_scenarios,
)
from ivr.simulation import Outcome, Result, explain, run, simulate, verify
from ivr.vocabulary import Heard, Silence
from tests.conftest import BILLING, FLOWS, SUPPORT, publish

CONFIG, _, CHECK_ERRORS = check_folder(FLOWS, "US")
MONDAY = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 10:00 in New York, 20:30 in Bangalore


def shipped() -> list[Scenario]:
    found, errors = read_scenarios(FLOWS)
    assert not errors, errors
    scenarios = []
    for file, name, raw in found:
        scenario, problems = parse_scenario(name, raw, file, CONFIG)
        assert scenario is not None, problems
        scenarios.append(scenario)
    return scenarios


SHIPPED = shipped()


def test_shipped_flows_pass_ivr_check():
    assert CHECK_ERRORS == []


@pytest.mark.parametrize("scenario", SHIPPED, ids=[s.name for s in SHIPPED])
def test_shipped_scenario_passes(scenario):
    outcome = simulate(CONFIG, scenario)
    failures = verify(outcome, scenario.expect)

    assert failures == [], explain(Result(scenario, outcome, tuple(failures)))


def test_shipped_scenarios_take_every_branch_of_the_example_flows():
    taken: dict[str, set[Branch]] = defaultdict(set)
    for result in run(CONFIG, SHIPPED):
        flow = CONFIG.flows[CONFIG.numbers[result.scenario.number].flow]
        taken[flow.id] |= branches_taken(flow, result.outcome)

    missing = [
        (flow.id, *branch)
        for flow in CONFIG.flows.values()
        for branch in sorted(branches_of(flow) - taken[flow.id])
    ]
    assert missing == []


Branch = tuple[str, str, str]  # (evidence step, state, what happened there)


def branches_of(flow: Flow) -> set[Branch]:
    """Every way through each state of a flow, and each way a caller can reach the domestic agent."""
    out: set[Branch] = {
        ("safe_answer", "", flow.on_lookup_failure),
        ("transfer_requested", "", "key"),
        ("transfer_requested", "", "voice"),
    }
    for name, state in flow.states.items():
        if isinstance(state, Menu):
            out |= {("menu", name, f"key {k}") for k in state.options}
            out |= {("menu", name, label) for label in ("said", "no_input", "invalid", "retry")}
        elif isinstance(state, LanguageMenu):
            out |= {("language", name, code) for code in (*flow.codes, "silence")}
            out |= {("menu", name, "retry")} if state.retries else set()
        elif isinstance(state, Hours):
            out |= {("hours", name, "true"), ("hours", name, "false")}
        elif isinstance(state, (Route, Overflow)):
            out |= {("routed", name, center) for center in state.centers} | {("no_center", name, "")}
        elif isinstance(state, Disclose):
            out |= {("disclosed", name, code) for code in flow.codes} | {("exempt", name, "domestic-center")}
        elif isinstance(state, (Bridge, Domestic)):
            out |= {("bridge_ended", name, "answered"), ("bridge_ended", name, "failed")}
        elif isinstance(state, Hangup) and state.text:
            out.add(("heard", name, ""))
        elif isinstance(state, Handoff):
            out.add(("handoff", name, state.url))
        if isinstance(state, Bridge) and any(CONFIG.centers[c].max_wait for c in flow.routable):
            out.add(("bridge_ended", name, "wait-limit"))
        if any(CONFIG.centers[c].target.kind in HELD for c in getattr(state, "centers", ())):
            out.add(("transfer_requested", "", "hold"))
    return out


def branches_taken(flow: Flow, outcome: Outcome) -> set[Branch]:
    """The branches one call took, read from its evidence (a key names the state of its step)."""
    out: set[Branch] = set()
    for event in outcome.events:
        f, state = dict(event.fields), event.key.split(":", 2)[-1]
        value = {
            "language": f.get("language", ""),
            "hours": f.get("open", ""),
            "routed": f.get("center", ""),
            "exempt": f.get("reason", ""),
            "handoff": f.get("url", ""),
            "disclosed": f.get("language", "").split("-")[0],
            "no_center": "",
        }.get(event.step)
        if event.step == "menu":
            value = menu_branch(flow.states[state], f["input"], f["result"])
        elif event.step == "language" and f["input"] == "silence":
            value = "silence"
        elif event.step == "bridge_ended":
            value = {"answered": "answered", "failed": "failed", "left": f.get("left", "")}.get(f["outcome"])
        elif event.step in ("safe_answer", "transfer_requested"):
            state, value = "", f.get("policy") or f.get("by", "")
        if value is not None:
            out.add((event.step, state, value))
    for name, state in flow.states.items():
        if isinstance(state, Hangup) and any(
            translation(state.text, code, flow.codes[0]) in outcome.heard for code in flow.codes
        ):
            out.add(("heard", name, ""))
    return out


def menu_branch(state, heard: str, result: str) -> str:
    """Which way a menu went: a key's option, a word, no input, an invalid answer, or a retry."""
    if result == "retry":
        return "retry"
    if heard == "silence":
        return "no_input"
    if heard.startswith("key "):
        return heard if heard[4:] in state.options else "invalid"
    words = [w for table in getattr(state, "words", {}).values() for w in table]
    return "said" if any(says(heard, w) for w in words) else "invalid"


# --- ivr test ------------------------------------------------------------------------------------


def test_ivr_test_runs_every_shipped_scenario(capsys):
    assert main(["test", str(FLOWS)]) == 0

    out = capsys.readouterr().out
    assert f"{len(SHIPPED)} scenarios: {len(SHIPPED)} passed, 0 failed" in out
    assert "ok   support-manila-disclosed-then-silence" in out


WRONG = """
[scenarios.manila-expected-bangalore]
number = "+18005550100"
at = "2026-11-30T10:00-05:00"
inputs = ["1", "1"]
picks = ["manila"]
expect.disclosed = ["Bangalore, India"]
expect.bridged = ["bangalore"]

[scenarios.fine]
number = "+18885550199"
at = "2026-11-29T10:00-05:00"
expect.ends = "hangup"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(FLOWS / "acme.toml", tmp_path / "acme.toml")
    return tmp_path


def test_a_wrong_scenario_fails_with_the_transcript_of_its_call(folder, capsys):
    (folder / "wrong.scenarios.toml").write_text(WRONG)

    assert main(["test", str(folder)]) == 1

    out = capsys.readouterr().out
    assert "FAIL manila-expected-bangalore" in out
    assert "ok   fine" in out
    assert (
        "disclosed: expected ['Bangalore, India'], heard ['Your call will be answered by our team "
        "in Manila, the Philippines.']" in out
    )
    assert "bridged: expected [bangalore], got [manila (offshore)]" in out
    transcript = out.split("transcript:")[1]
    assert "hears [en-US]: Your call will be answered by our team in Manila, the Philippines." in transcript
    assert "presses 1" in transcript
    assert "bridged to manila (queue acme-manila; Manila, PH; offshore)" in transcript
    assert "2 scenarios: 1 passed, 1 failed" in out


def test_ivr_test_takes_one_scenario_file_and_a_name_filter(folder, capsys):
    (folder / "wrong.scenarios.toml").write_text(WRONG)

    assert main(["test", str(folder / "wrong.scenarios.toml"), "-k", "fine"]) == 0
    assert "1 scenarios: 1 passed, 0 failed" in capsys.readouterr().out


def test_ivr_test_refuses_to_run_on_flows_that_fail_the_check(folder, capsys):
    (folder / "acme.toml").write_text(
        (FLOWS / "acme.toml")
        .read_text()
        .replace('domestic = "scranton"                 #', 'domestic = "manila"                 #')
    )

    assert main(["test", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "field 'domestic'" in err
    assert "must pass first" in err


def test_a_folder_without_scenarios_fails(folder, capsys):
    assert main(["test", str(folder)]) == 1
    assert "no scenarios" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line, field, message",
    [
        ('number = "+18005550101"', "number", "is not a number of this folder"),
        ('at = "2026-11-30"', "at", "needs a time of day"),
        ('at = "tomorrow at ten"', "at", "is not a time"),
        ('timezone = "Mars/Olympus"', "timezone", "is not an IANA time zone"),
        ('language = "fr"', "language", "'fr' is not a language of flow 'support' (en, es)"),
        ('inputs = ["1", "1234567890123456"]', "inputs[1]", "at most 15 keys"),
        ('inputs = ["1", { press = "one" }]', "inputs[1]", "press takes keys"),
        ("inputs = [1]", "inputs[0]", 'must be keys, words or "silence"'),
        ('centers.manila = "bsy"', "centers.manila", "'bsy' is not one of open, closed, answered"),
        (
            'centers.bangalore = "queue-full"',
            "centers.bangalore",
            "how Twilio's <Dial> (a sip center) can end",
        ),
        ('centers.lima = "open"', "centers.lima", "names unknown center 'lima'"),
        ('centers.manila = ["open", "closed"]', "centers.manila", "give open or closed once"),
        ('picks = ["lima"]', "picks[0]", "names unknown center 'lima'"),
        ('redis = "down"', "redis", "must be one of readable, unreadable"),
        ('colour = "blue"', "colour", "is not a known field"),
        ('expect.bridged = ["tokyo"]', "expect.bridged[0]", "names unknown center 'tokyo'"),
        (
            'expect.bridged = [{ center = "manila", domestic = "no" }]',
            "expect.bridged[0]",
            "must be a center id",
        ),
        ('expect.disclosed = [{ exactly = "x" }]', "expect.disclosed[0]", "must be words of the disclosure"),
        ('expect.ends = "maybe"', "expect.ends", "must be one of answered, hangup, handoff"),
        ('expect.transfer = "fax"', "expect.transfer", "must be one of key, voice, hold, none"),
        ('expect.steps = ["disclosure"]', "expect.steps[0]", "'disclosure' is not an evidence step"),
        ('expect.colour = "blue"', "expect.colour", "is not a known field"),
    ],
)
def test_a_scenario_file_error_names_the_file_the_scenario_and_the_field(
    folder, capsys, line, field, message
):
    table = ['number = "+18005550100"', 'at = "2026-11-30T10:00"', 'expect.ends = "answered"']
    key = line.split("=")[0].strip()
    table = [t for t in table if t.split("=")[0].strip() != key] + [line]
    file = folder / "broken.scenarios.toml"
    file.write_text("[scenarios.broken]\n" + "\n".join(table) + "\n")

    assert main(["test", str(folder)]) == 1

    err = capsys.readouterr().err
    assert f"{file}: scenario 'broken' field '{field}': " in err
    assert message in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("[scenarios.a]\nnumber = \n", "cannot be read"),
        ("scenarios = 3\n", "must be a table of [scenarios.NAME]"),
        ("[scenarios]\na = 3\n", "scenario 'a': must be a table"),
        ('[scenarios.a]\nnumber = "+18005550100"\n', "scenario 'a' field 'at': is required"),
        (
            '[scenarios.a]\nnumber = "+18005550100"\nat = "2026-11-30T10:00"\n',
            "scenario 'a' field 'expect': is required",
        ),
        (
            '[scenarios.a]\nnumber = "+18005550100"\nat = "2026-11-30T10:00"\nexpect = {}\n',
            "scenario 'a' field 'expect': must say what must happen",
        ),
    ],
)
def test_a_broken_scenario_file_is_refused_naming_the_file(tmp_path, text, message):
    file = tmp_path / "x.scenarios.toml"
    file.write_text(text)
    found, errors = read_scenarios(file)
    for name_file, name, raw in found:
        errors += parse_scenario(name, raw, name_file, CONFIG)[1]

    assert any(str(file) in str(e) and message in str(e) for e in errors), errors


def test_a_scenario_defined_twice_is_refused(tmp_path):
    for name in ("a.toml", "b.toml"):
        (tmp_path / name).write_text('[scenarios.twice]\nnumber = "+18005550100"\n')

    _, errors = read_scenarios(tmp_path)

    assert [str(e) for e in errors] == [
        f"{tmp_path / 'b.toml'}: scenario 'twice': is already defined in {tmp_path / 'a.toml'}"
    ]


# --- the pure core ---------------------------------------------------------------------------------


def scenario(**changes) -> Scenario:
    base = dict(
        name="t", number=SUPPORT, at=MONDAY, inputs=(Heard(digits="1"), Heard(digits="1")), picks=("manila",)
    )
    return Scenario(**{**base, **changes})


@pytest.fixture(scope="module")
def manila_call() -> Outcome:
    return simulate(CONFIG, scenario())


@pytest.mark.parametrize(
    "expect, failure",
    [
        (Expect(disclosed=()), "disclosed: expected [no disclosure], heard ['Your call will be answered"),
        (
            Expect(disclosed=(Disclosure("Manila"), Disclosure("Manila"))),
            "disclosed: expected ['Manila', 'Manila']",
        ),
        (Expect(disclosed=(Disclosure("Manila", exact=True),)), "disclosed: expected [exactly 'Manila']"),
        (Expect(language="es"), "language: expected es, the call spoke en-US"),
        (Expect(offer="oprima"), "offer: expected every offer to hold 'oprima'"),
        (
            Expect(bridged=(Bridged("manila", domestic=True),)),
            "bridged: expected [manila (domestic)], got [manila (offshore)]",
        ),
        (Expect(bridged=()), "bridged: expected [no bridge], got [manila (offshore)]"),
        (Expect(transfer="key"), "transfer: expected key, got none"),
        (
            Expect(handoff="https://ivr.acme.example.com/x"),
            "handoff: expected https://ivr.acme.example.com/x, got none",
        ),
        (Expect(ends="hangup"), "ends: expected hangup, got answered"),
        (Expect(heard=("Bangalore",)), "heard: expected to hear 'Bangalore'"),
        (Expect(not_heard=("Manila",)), "not_heard: heard 'Manila'"),
        (Expect(steps=("safe_answer", "handoff")), "steps: no evidence of safe_answer, handoff"),
        (Expect(not_steps=("disclosed",)), "not_steps: evidence of disclosed"),
    ],
)
def test_each_expectation_fails_when_the_call_differs(manila_call, expect, failure):
    failures = verify(manila_call, expect)

    assert len(failures) == 1
    assert failures[0].startswith(failure), failures


def test_the_call_passes_what_it_did(manila_call):
    expect = Expect(
        disclosed=(
            Disclosure("Your call will be answered by our team in Manila, the Philippines.", exact=True),
        ),
        language="en-US",
        offer="press 1",
        bridged=(Bridged("manila", False),),
        transfer="none",
        ends="answered",
        heard=("Thank you for calling",),
        not_heard=("Bangalore",),
        steps=("received", "disclosed"),
        not_steps=("handoff",),
    )

    assert verify(manila_call, expect) == []
    assert manila_call.drawn == ["manila"]


def test_a_scenario_plays_the_same_call_every_time():
    once, again = (simulate(CONFIG, scenario(picks=())) for _ in range(2))

    assert once.lines == again.lines
    assert once.call_sid == again.call_sid == scenario().call_sid


def test_inputs_the_call_never_asked_for_fail_the_scenario():
    outcome = simulate(
        CONFIG,
        scenario(picks=(), inputs=(Heard(digits="1"), Heard(digits="2"), Silence(), Heard(speech="agent"))),
    )

    assert outcome.ended == "handoff"
    assert verify(outcome, Expect()) == ["inputs: the call ended before asking for silence, 'agent'"]


def test_picks_no_weighted_route_can_draw_fail_the_scenario():
    outcome = simulate(CONFIG, scenario(centers={"manila": CenterState(hours="closed")}))

    assert outcome.errors[0].startswith("picks: no CallSid of 500 made the weighted routes draw manila")
    assert verify(outcome, Expect())[0] == outcome.errors[0]


@pytest.mark.parametrize(
    "kind, word, status",
    [
        ("queue", "answered", "bridged"),
        ("queue", "queue-full", "queue-full"),
        ("queue", "failed", "error"),
        ("queue", "hold-transfer", "leave"),
        ("sip", "answered", "completed"),
        ("sip", "busy", "busy"),
        ("sip", "no-answer", "no-answer"),
        ("number", "failed", "failed"),
    ],
)
def test_a_bridge_ends_as_twilio_reports_it_for_its_target(kind, word, status):
    center = {"queue": "manila", "sip": "bangalore", "number": "scranton"}[kind]
    outcome = simulate(CONFIG, scenario(picks=(center,), centers={center: CenterState(bridges=(word,))}))

    assert outcome.bridges[0].center == center
    # a <Dial> also says whether the caller was connected (DialBridged)
    assert any(line.startswith(f"  the bridge ends: {word} ({status}") for line in outcome.lines)
    assert outcome.transfer == ("hold" if word == "hold-transfer" else "none")


@pytest.mark.parametrize("word", ["busy", "no-answer"])
def test_a_queue_center_is_never_busy_or_unanswered(word):
    raw = {
        "number": SUPPORT,
        "at": "2026-11-30T10:00Z",
        "centers": {"manila": word},
        "expect": {"ends": "answered"},
    }
    parsed, errors = parse_scenario("t", raw, "f.toml", CONFIG)

    assert parsed is None
    assert [e.field for e in errors] == ["centers.manila"]
    assert "Twilio's <Enqueue> has no timeout and never ends busy or unanswered" in errors[0].message


def test_a_long_hold_grows_queue_time_until_max_wait_then_overflows():
    outcome = simulate(CONFIG, scenario(wait=3600))  # Manila's max_wait is 300 s

    holds = [line for line in outcome.lines if line.startswith("  on hold ")]
    times = sorted({line.split()[2] for line in holds})
    assert len(times) >= 5 and "0:00" in times  # one document after another, QueueTime growing
    assert [b.center for b in outcome.bridges] == ["manila", "bangalore"]
    assert outcome.bridges[0].ended == "wait-limit"
    limit = outcome.fields("wait_limit")
    assert len(limit) == 1 and int(limit[0]["queue_time"]) >= 300
    assert outcome.transfer == "none"
    assert [d["center"] for d in outcome.fields("disclosed")] == ["manila", "bangalore"]


def test_an_agent_within_max_wait_ends_the_hold_answered():
    outcome = simulate(CONFIG, scenario(wait=120))

    assert [(b.center, b.ended) for b in outcome.bridges] == [("manila", "answered")]
    assert "  on hold 2:00: an agent answers" in outcome.lines
    assert "wait_limit" not in outcome.steps


def test_an_engine_failure_gives_the_safe_answer_and_fails_the_scenario():
    # a flow `ivr check` refuses: it bridges to Manila without a disclosure
    support = CONFIG.flows["support"]
    states = {**support.states, "route": Route("route", ("manila",), "bridge", "domestic")}
    broken = replace(CONFIG, flows={**CONFIG.flows, "support": replace(support, states=states)})

    outcome = simulate(broken, scenario(picks=()))

    assert outcome.errors == [
        "the engine failed going on from state menu: UnsafeBridge: center manila in "
        "Manila|PH was not disclosed"
    ]
    assert ("safe_answer", "domestic") in {(e.step, dict(e.fields).get("policy")) for e in outcome.events}
    assert [b.center for b in outcome.bridges] == ["scranton"]


ENDS_AFTER = {"answered": "answered", "gone": "abandoned", "moved": "hangup"}  # one bridge only


@pytest.mark.parametrize(
    "center, inputs, kind, value",
    [
        *[("manila", ("1", "1"), "queue", v) for v in sorted(outcomes.QUEUE_RESULT)],
        *[("bangalore", ("2", "1"), "sip", v) for v in sorted(outcomes.DIAL_CALL_STATUS)],
        ("manila", ("1", "1"), "queue", "hangup"),
        ("bangalore", ("2", "1"), "sip", "hangup"),
    ],
)
def test_the_simulator_plays_every_end_of_a_bridge_as_the_table_reads_it(center, inputs, kind, value):
    outcome = simulate(
        CONFIG,
        scenario(
            picks=(center,),
            inputs=tuple(Heard(digits=d) for d in inputs),
            centers={center: CenterState(bridges=(value,))},
        ),
    )
    status = outcomes.reported(value, kind)
    read = outcomes.meaning(status, caller_ended=value == outcomes.HANGS_UP)
    ended = [dict(e.fields) for e in outcome.events if e.step == "bridge_ended"]

    assert outcome.errors == []
    if read == outcomes.LEFT:  # recorded as the caller's transfer request, not as an end
        assert ended[0]["center"] != center
    else:
        assert (ended[0]["center"], ended[0]["status"], ended[0]["outcome"]) == (center, status, read)
    if read in ENDS_AFTER:  # an answer, or a caller who is gone or no longer ours: no overflow
        assert [b.center for b in outcome.bridges] == [center]
        assert outcome.ended == ENDS_AFTER[read]
    else:  # a failure overflows; the caller's own <Leave/> is a transfer request on hold
        assert len(outcome.bridges) == 2 and outcome.ended == "answered"
        assert outcome.transfer == ("hold" if read == outcomes.LEFT else "none")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", Heard(digits="1")),
        ("#", Heard(digits="#")),
        ("silence", Silence()),
        ("", Silence()),
        ("agente", Heard(speech="agente")),
        ({"say": "1"}, Heard(speech="1")),
        ({"press": "2"}, Heard(digits="2")),
        ({"say": "silence"}, Heard(speech="silence")),
    ],
)
def test_inputs_are_keys_words_or_silence(value, expected):
    assert parse_input(value) == expected


def test_a_toml_date_time_is_accepted_in_the_scenario_time_zone():
    raw = {
        "number": BILLING,
        "at": datetime(2026, 11, 30, 10, 0),
        "timezone": "America/New_York",
        "expect": {"ends": "answered"},
    }
    parsed, errors = parse_scenario("t", raw, "f.toml", CONFIG)

    assert errors == []
    assert parsed is not None and parsed.at == MONDAY


# --- ivr preview -----------------------------------------------------------------------------------


def test_preview_prints_what_the_caller_hears(capsys):
    code = main(
        [
            "preview",
            BILLING,
            "--folder",
            str(FLOWS),
            "--at",
            "2026-11-30T10:00",
            "--tz",
            "America/New_York",
            "--lang",
            "en",
            "--press",
            "2",
            "--say",
            "agent",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "hears [en-US]: Thank you for calling Acme Wireless billing." in out
    assert "hears [en-US]: Your call will be answered by our billing team in Bangalore, India." in out
    assert "says 'agent'" in out
    assert "bridged to scranton (number +15705550123; Scranton, US; domestic)" in out


def test_preview_follows_presses_center_states_and_picks(capsys):
    code = main(
        [
            "preview",
            SUPPORT,
            "--folder",
            str(FLOWS),
            "--at",
            "2026-11-30T15:00Z",
            "--press",
            "2,,1",
            "--pick",
            "manila",
            "--center",
            "manila=queue-full",
            "--center",
            "bangalore=closed",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "Su llamada será atendida por nuestro equipo en Manila, Filipinas." in out
    assert "the bridge ends: queue-full (queue-full)" in out
    assert "Su llamada será atendida por nuestro equipo en Scranton." in out


def test_preview_plays_a_long_hold(capsys):
    code = main(
        [
            "preview",
            SUPPORT,
            "--folder",
            str(FLOWS),
            "--at",
            "2026-11-30T15:00Z",
            "--press",
            "1,1",
            "--pick",
            "manila",
            "--wait",
            "600",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "on hold 0:00 hears [en-US]: You are number 1 in line." in out
    assert "the wait handler answers <Leave/>" in out
    assert "Your call will be answered by our team in Bangalore, India." in out


def test_preview_names_a_bad_option(capsys):
    assert main(["preview", SUPPORT, "--folder", str(FLOWS), "--center", "manila=bsy"]) == 2
    assert "field 'centers.manila': 'bsy' is not one of" in capsys.readouterr().err


def test_preview_reads_the_published_configuration_and_writes_nothing(redis_server, redis_client, capsys):
    publish(redis_server.url)
    # a user that may only read: any write by the preview would fail it
    redis_client.execute_command(
        "ACL",
        "SETUSER",
        "previewer",
        "reset",
        "on",
        ">preview-only",
        f"~{keys.PREFIX}*",
        "+@read",
        "+@connection",
        "-@write",
    )
    before = {k: redis_client.type(k) for k in redis_client.keys("*")}
    url = f"redis://previewer:preview-only@127.0.0.1:{redis_server.port}/0"

    code = main(
        [
            "preview",
            SUPPORT,
            "--redis-url",
            url,
            "--at",
            "2026-11-30T15:00Z",
            "--press",
            "1,1",
            "--pick",
            "bangalore",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "(flow support v1)" in out
    assert "Your call will be answered by our team in Bangalore, India." in out
    assert {k: redis_client.type(k) for k in redis_client.keys("*")} == before
    assert redis_client.xlen(keys.EVENTS) == 0
    with pytest.raises(redis.exceptions.NoPermissionError):  # the user really cannot write
        redis.Redis.from_url(url).set(keys.key("x"), "1")
