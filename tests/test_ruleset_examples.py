"""The rule sets' distinguishing cases (issue 15), as operator folders in examples/rulesets/:
each holds a small company, the problems `ivr check` must find in it (check.expected, "ok"
for none) and, where it passes, scenarios `ivr test` must pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check_folder
from ivr.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "rulesets"
CASES = sorted(p for p in EXAMPLES.iterdir() if p.is_dir())


def test_the_distinguishing_cases_are_all_there():
    assert {p.name for p in CASES} >= {
        "us-2013-city-only",
        "us-2025-city-only",
        "automated-with-notice",
        "automated-without-notice",
        "home-only-federal-line",
        "home-only-reaches-manila",
        "nj-2020-reporting",
    }


@pytest.mark.parametrize("case", CASES, ids=[p.name for p in CASES])
def test_each_case_is_checked_as_its_folder_says(case, capsys):
    expected = (case / "check.expected").read_text(encoding="utf-8").strip()

    _, _, errors = check_folder(case, "US")

    found = "\n".join(str(e).replace(f"{case}/", "") for e in errors) or "ok"
    assert found == expected
    assert main(["check", str(case)]) == (0 if expected == "ok" else 1)
    said = capsys.readouterr()
    rules = (
        "us-2013 v1"
        if case.name.startswith("us-2013")
        else "us-2019 v1 + nj-2020 v1"
        if "nj" in case.name
        else "us-2025 v1"
    )
    assert f"checked under rule set {rules} (" in (said.out if expected == "ok" else said.err)
    if (case / "company.scenarios.toml").exists():
        assert expected == "ok", "ivr test refuses flows that fail ivr check"
        assert main(["test", str(case)]) == 0, capsys.readouterr().out
