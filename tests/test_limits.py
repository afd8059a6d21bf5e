"""What the engine or Twilio would refuse at run time is refused by `ivr check`: walks longer
than the engine's MAX_HOPS, TwiML documents over Twilio's 64 kB, more than 500 speech
hints. Each limit is tested at its edge, against the engine and renderer themselves."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.check import check_folder
from ivr.engine import MAX_HOPS, begin, resume
from ivr.limits import HINTS_LIMIT, TWIML_LIMIT
from ivr.twiml import render
from ivr.vocabulary import Facts, Heard
from tests.test_check import CENTERS, NUMBERS, SUPPORT, edit

NOW = datetime(2026, 3, 4, 12, tzinfo=UTC)  # a Wednesday: Manila and Bangalore open


def folder(tmp: Path, support: str) -> Path:
    tmp.mkdir(exist_ok=True)
    for name, text in (("centers", CENTERS), ("numbers", NUMBERS), ("support", support)):
        (tmp / f"{name}.toml").write_text(text, encoding="utf-8")
    return tmp


def says_before_greet(count: int, text: str = "Hello.") -> str:
    """The base flow with ``count`` say states before its greeting (then route, disclose)."""
    flow = edit(SUPPORT, 'start = "greet"', 'start = "s0"')
    for i in range(count):
        nxt = f"s{i + 1}" if i + 1 < count else "greet"
        flow += f'\n[flows.support.states.s{i}]\ntype = "say"\ntext = "{text}"\nnext = "{nxt}"\n'
    return flow


def first_answer(config) -> str:
    flow = config.flows["support"]
    return render(tuple(begin(flow, Facts("CA1", NOW, config.centers, "US")).actions))


def without_manila(config) -> Facts:
    """Manila unavailable: the route picks Scranton, the disclosure passes (a domestic
    center), and the walk goes on to the bridge: the longest walk of the base flow."""
    return Facts("CA1", NOW, {k: v for k, v in config.centers.items() if k != "manila"}, "US")


# The base flow's longest walk is greet -> route -> disclose -> bridge: 4 states.
@pytest.mark.parametrize("extra", [MAX_HOPS - 4, MAX_HOPS - 3, 70])
def test_walks_longer_than_the_engine_allows_are_refused_exactly_where_it_gives_up(tmp_path, extra):
    config, _, errors = check_folder(folder(tmp_path, says_before_greet(extra)), "US")
    flow = config.flows["support"]

    walked = extra + 4
    refused = [e for e in errors if "states from here before it waits" in e.message]
    if walked <= MAX_HOPS:
        assert not errors
        assert begin(flow, without_manila(config)).actions
    else:
        assert [(e.where, e.message.split(" (")[0]) for e in refused] == [
            (
                "flow 'support' state 's0'",
                f"the engine walks {walked} states from here before it waits for the caller",
            )
        ]
        assert f"it gives up after {MAX_HOPS}" in refused[0].message
        with pytest.raises(RuntimeError, match="did not wait"):
            begin(flow, without_manila(config))


def test_a_walk_after_a_menu_answer_is_measured_from_where_the_answer_leads(tmp_path):
    flow = (
        edit(SUPPORT, 'start = "greet"', 'start = "ask"')
        + """
[flows.support.states.ask]
type = "menu"
prompt = "Press 2."
options = { "2" = "s0" }
no_input = "s0"
invalid = "sorry"
"""
    )
    for i in range(MAX_HOPS):
        flow += f'\n[flows.support.states.s{i}]\ntype = "say"\ntext = "Hi."\nnext = "s{i + 1}"\n'
    flow = flow.replace(f'next = "s{MAX_HOPS}"', 'next = "greet"')
    config, _, errors = check_folder(folder(tmp_path, flow), "US")

    assert [e.where for e in errors if "before it waits" in e.message] == ["flow 'support' state 's0'"]
    support = config.flows["support"]
    facts = Facts("CA1", NOW, config.centers, "US")
    with pytest.raises(RuntimeError, match="did not wait"):
        resume(support, begin(support, facts).call, Heard(digits="2"), facts)


def transfer_words(count: int) -> str:
    words = ", ".join(f'"word{i:05d}"' for i in range(count))
    return edit(SUPPORT, 'domestic = "scranton"', f'domestic = "scranton"\ntransfer_words = [{words}]')


def test_ten_thousand_transfer_words_are_refused_for_the_document_and_the_hints(tmp_path):
    config, _, errors = check_folder(folder(tmp_path, transfer_words(10_000)), "US")

    hints = [e for e in errors if e.field == "transfer_words"]
    assert [e.message for e in hints] == [
        f"holds 10000 words; a prompt listens for at most {HINTS_LIMIT} (Twilio's limit on speech hints)"
    ]
    size = [e for e in errors if "TwiML document" in e.message]
    assert size and size[0].where == "flow 'support' state 'greet'"
    assert "greet -> route -> disclose" in size[0].message
    claimed = int(size[0].message.split("document of ")[1].split(" bytes")[0].replace(",", ""))
    actual = len(first_answer(config).encode())
    assert actual > TWIML_LIMIT
    assert claimed >= actual  # the check's bound holds what the webhook would really send
    assert claimed - actual < 400  # and is that document, with the widest URL and center names


def test_hints_at_the_limit_pass(tmp_path):
    _, _, errors = check_folder(folder(tmp_path, transfer_words(HINTS_LIMIT)), "US")

    assert not errors


def test_say_texts_that_add_up_past_64_kb_are_refused_at_the_walks_start(tmp_path):
    long = "Tom & Jerry " * 80  # 960 characters, 1,280 bytes once & is escaped
    _, _, short = check_folder(folder(tmp_path / "a", says_before_greet(45, long)), "US")
    config, _, errors = check_folder(folder(tmp_path / "b", says_before_greet(55, long)), "US")

    assert not short
    assert [e.where for e in errors] == ["flow 'support' state 's0'"]
    assert "s0 -> s1 -> s2 -> s3 -> ... -> greet -> route -> disclose" in errors[0].message
    assert len(first_answer(config).encode()) > TWIML_LIMIT


def test_shipped_flows_answer_far_below_the_limits():
    root = Path(__file__).resolve().parent.parent
    for name in ("flows", "tests/e2e_flows", "bench/flows"):
        _, _, errors = check_folder(root / name, "US")
        assert not errors, (name, errors)
