"""Hostile or broken operator files: every one gets a message naming its file and field
(and state), never a traceback."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.check import check_config
from ivr.cli import main
from ivr.errors import FlowError
from ivr.flow_tables import STATE_KINDS
from ivr.flowfile import MAX_DEPTH, Problems, Sources, build, collect


@pytest.mark.parametrize(
    ("text", "field", "shown"),
    [
        ("centers = 1", "centers", "1"),
        ("numbers = []", "numbers", "[]"),
        ("flows = 'x'", "flows", "'x'"),
    ],
)
def test_a_section_that_is_not_tables_is_named(tmp_path, capsys, text, field, shown):
    (tmp_path / "bad.toml").write_text(text + "\n", encoding="utf-8")

    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'bad.toml'}: field '{field}': must be tables like [{field}.ID], not {shown}" in err
    assert "Traceback" not in err


def test_nesting_500_deep_is_refused_without_a_recursion_error(tmp_path, capsys):
    (tmp_path / "deep.toml").write_text("x = " + "[" * 500 + "]" * 500 + "\n", encoding="utf-8")

    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'deep.toml'}: cannot be read: it nests too deep" in err


def test_deep_tables_are_refused_naming_the_field(tmp_path, capsys):
    header = ".".join(["flows", "x", "states", "a"] + [f"t{i}" for i in range(40)])
    (tmp_path / "deep.toml").write_text(f"[{header}]\nv = 1\n", encoding="utf-8")

    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert (
        f"flow 'x' field 'states.a.t0.t1.t2.t3.t4.t5.t6.t7.t8.t9': nests {MAX_DEPTH + 1} "
        f"levels deep; at most {MAX_DEPTH}" in err
    )


# --- property: any TOML-shaped document gets FlowErrors, never an exception ------------------

FLOW_FIELDS = [
    "start",
    "domestic",
    "states",
    "language",
    "languages",
    "voice",
    "voices",
    "transfer_key",
    "transfer_words",
    "on_lookup_failure",
    "cautious_text",
    "unavailable_text",
    "hold_music",
    "hold_offer",
    "version",
]
STATE_FIELDS = [
    "type",
    "text",
    "next",
    "play",
    "centers",
    "closed",
    "strategy",
    "weights",
    "offer",
    "timeout",
    "courtesy",
    "on_failure",
    "exhausted",
    "prompt",
    "options",
    "words",
    "no_input",
    "invalid",
    "retries",
    "center",
    "timezone",
    "hours",
    "holidays",
    "closures",
    "open",
    "url",
    "key",
    "keywords",
]
CENTER_FIELDS = ["name", "city", "country", "timezone", "hours", "holidays", "closures", "region", "connect"]
NUMBER_FIELDS = ["flow", "exempt", "label", "language"]
POLICY_FIELDS = ["transfer_numbers", "queues", "sip_domains", "workflows", "url_hosts"]

names = st.sampled_from(
    [
        "a",
        "greet",
        "manila",
        "+18005550100",
        "en",
        "es",
        "1",
        "mon-fri",
        "queue",
        "number",
        "sip",
        "workflow",
        "from",
        "to",
        "agent",
        "24/7",
    ]
)
texts = st.one_of(
    names,
    st.text(string.printable + "éñ\x0b{}", max_size=30),
    st.sampled_from(
        [
            "{city}",
            "{country",
            "{0}",
            "{x.y}",
            "{city!r}",
            "09:00-17:00",
            "2026-12-25",
            "Asia/Manila",
            "+15705550123",
            "https://a.b/c",
            "sip:x@y.example.com",
            "en-US",
            "Polly.Joanna",
            "WW" + "0" * 32,
        ]
    ),
)
scalars = st.one_of(
    texts,
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.booleans(),
    st.dates(),
    st.times(),
    st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(names, texts), inner, max_size=4)
    ),
    max_leaves=12,
)


def table(fields: list[str]) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(fields), values, max_size=len(fields))


def state_table() -> st.SearchStrategy[dict]:
    return st.builds(
        lambda kind, rest: {**rest, **({"type": kind} if kind else {})},
        st.one_of(st.sampled_from(STATE_KINDS), st.none(), values),
        table(STATE_FIELDS),
    )


flows = st.builds(
    lambda rest, states: {**rest, "states": states},
    table(FLOW_FIELDS),
    st.one_of(
        st.dictionaries(names, state_table(), max_size=5), st.dictionaries(names, values, max_size=2), values
    ),
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "centers": st.one_of(
            st.dictionaries(names, st.one_of(table(CENTER_FIELDS), values), max_size=3), values
        ),
        "numbers": st.one_of(
            st.dictionaries(names, st.one_of(table(NUMBER_FIELDS), values), max_size=3), values
        ),
        "flows": st.one_of(st.dictionaries(names, flows, min_size=1, max_size=2), values),
        "policy": st.one_of(table(POLICY_FIELDS), values),
        "other": values,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_toml_shaped_document_gets_clean_errors(doc):
    sources, problems = Sources(), Problems("fuzz.toml")
    collect(doc, sources, problems)
    config, errors = build(sources)
    errors += problems.errors + check_config(config, sources, "US")

    assert all(isinstance(e, FlowError) for e in errors)
    for error in errors:
        assert str(error).startswith("fuzz.toml:")
