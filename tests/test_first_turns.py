"""The key a first turn is remembered under (ivr.first_turns) is derived from Facts: it
cannot go stale when Facts grows a field. That the remembered turn is the engine's own on
any flow, time and centers is the property test in tests/test_proof.py."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime

import pytest

from ivr import first_turns
from ivr.check import check_folder
from ivr.vocabulary import Facts
from tests.test_engine import FLOWS

CONFIG, _, _ = check_folder(FLOWS, "US")
FLOW = CONFIG.flows["support"]
FACTS = Facts("CA" + "0" * 32, datetime(2026, 3, 2, 15, tzinfo=UTC), CONFIG.centers, "US", None, True, "")
OTHER = {str: "other", type(None): "emergency"}  # a different value of each kind (a bool: its opposite)


def test_every_stand_in_is_a_field_of_facts():
    assert set(first_turns.STAND_INS) <= {f.name for f in fields(Facts)}


@pytest.mark.parametrize("name", [f.name for f in fields(Facts) if f.name not in first_turns.STAND_INS])
def test_every_other_field_of_facts_is_part_of_the_key(name):
    # a field nobody gave a stand-in goes into the key as it is: two facts that differ in it
    # are never served the same remembered turn
    value = getattr(FACTS, name)
    changed = replace(FACTS, **{name: not value if isinstance(value, bool) else OTHER[type(value)]})
    assert first_turns.key(FLOW, changed, "digest") != first_turns.key(FLOW, FACTS, "digest")


def test_the_stand_ins_are_what_the_key_holds_instead():
    # the CallSid (read only by weighted routes, never remembered) is not in the key; the
    # digest stands for the centers; the opening of centers and hours stands for the clock
    other_call = replace(FACTS, call_sid="CA" + "1" * 32)
    assert first_turns.key(FLOW, other_call, "digest") == first_turns.key(FLOW, FACTS, "digest")
    assert first_turns.key(FLOW, FACTS, "new digest") != first_turns.key(FLOW, FACTS, "digest")
    a_second_later = replace(FACTS, now=datetime(2026, 3, 2, 15, 0, 1, tzinfo=UTC))
    assert first_turns.key(FLOW, a_second_later, "digest") == first_turns.key(FLOW, FACTS, "digest")
