"""`ivr check|load|test|preview|versions|diff|rollback|fallback build` (ivr/cli/flows.py) as
operators run them, on a copy of the shipped flows/ and a real redis-server: each happy path,
and each failure as one line (or the list of problems) and its exit code."""

from __future__ import annotations

import shutil

import pytest

from ivr.cli import REDIS_DOWN, main
from ivr.store import Store, connect
from tests.conftest import FLOWS, one_line

AT = ["--at", "2026-11-30T10:00", "--tz", "America/New_York"]  # a Monday, every center open


@pytest.fixture
def folder(tmp_path):
    copy = tmp_path / "flows"
    shutil.copytree(FLOWS, copy)
    return copy


def _edit(folder, old: str, new: str, name: str = "acme.toml") -> None:
    path = folder / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.fixture
def two_versions(folder, redis_server, redis_client, capsys):
    """The shipped flows loaded twice, support's greeting changed in between: v1 and v2."""
    assert main(["load", str(folder), "--redis-url", redis_server.url]) == 0
    _edit(folder, "Thank you for calling Acme Wireless support.", "Thanks for calling Acme.")
    assert main(["load", str(folder), "--redis-url", redis_server.url, "-m", "shorter"]) == 0
    capsys.readouterr()
    return redis_server.url


def test_check_passes_the_shipped_flows_and_lists_every_problem(folder, capsys):
    assert main(["check", str(folder)]) == 0
    assert capsys.readouterr().out == (
        "  checked under rule set us-2025 v1 (S. 2495 / H.R. 4954; "
        "R1, R2, R3, R4, R5, R6, R7, R8, R9, R11, R12, R17, R19): 2 number(s)\n"
        "  center bangalore (Bangalore, IN; sip) receives: the caller's own number as caller ID "
        "(a <Dial> passes it), the caller's language\n"
        "  center manila (Manila, PH; queue) receives: the caller's number (the dequeued call's "
        "From), the caller's language\n"
        f"{folder}: 3 centers, 2 numbers, 2 flows: OK\n"
    )
    _edit(folder, "max_wait = 300 ", 'max_wait = "0" ')
    _edit(folder, '[numbers."+18885550199"]', '[numbers."+1570555012"]')
    assert main(["check", str(folder)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"2 problem(s) in {folder}"
    assert any(
        "center 'manila' field 'max_wait': must be a whole number, not the text \"0\"" in e for e in err
    )
    assert any("number '+1570555012': is not a valid E.164 number" in e for e in err)


def test_check_with_redis_not_answering_warns_in_one_line_and_still_checks(unanswering_redis, capsys):
    assert main(["check", str(FLOWS), "--redis-url", unanswering_redis.url]) == 0
    out, err = capsys.readouterr()
    assert out.endswith(": OK\n")
    assert err.startswith("warning: cannot read the published configuration") and err.count("\n") == 1


def test_load_publishes_and_a_bad_folder_publishes_nothing(folder, redis_server, redis_client, capsys):
    assert main(["load", str(folder), "--redis-url", redis_server.url, "-m", "first"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "flow billing: version 1 live",
        "flow support: version 1 live",
        "published 3 centers, 2 numbers",
    ]
    _edit(folder, 'flow = "billing"', 'flow = "biling"')
    assert main(["load", str(folder), "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert err.endswith("nothing published: fix the problems above\n") and "biling" in err
    assert Store(connect(redis_server.url, timeout=5)).live_version("billing") == 1


def test_load_of_a_folder_with_no_files(tmp_path, redis_server, capsys):
    assert main(["load", str(tmp_path), "--redis-url", redis_server.url]) == 1
    assert f"{tmp_path}: holds no *.toml files" in capsys.readouterr().err


def test_test_runs_the_shipped_scenarios_and_fails_a_wrong_one(folder, capsys):
    assert main(["test", str(folder)]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.endswith(" passed, 0 failed") and not last.startswith("0 ")
    _edit(
        folder,
        'expect.disclosed = [{ exact = "Your call will be answered by our team in Bangalore, India." }]',
        'expect.disclosed = [{ exact = "Your call will be answered by our team in Pune, India." }]',
        "acme.scenarios.toml",
    )
    assert main(["test", str(folder), "-k", "support-bangalore-disclosed"]) == 1
    out = capsys.readouterr().out
    assert "FAIL support-bangalore-disclosed" in out and "Pune" in out
    assert out.splitlines()[-1] == "1 scenarios: 0 passed, 1 failed"


def test_test_verbose_prints_each_transcript(capsys):
    assert main(["test", str(FLOWS), "-k", "support-bangalore-disclosed", "-v"]) == 0
    out = capsys.readouterr().out
    assert "ok   support-bangalore-disclosed" in out
    assert "    " in out and "Bangalore, India" in out


def test_test_with_nothing_to_run_or_a_bad_folder(folder, capsys):
    assert main(["test", str(folder), "-k", "no-such-scenario"]) == 1
    assert one_line(capsys) == f"{folder}: no scenarios matching 'no-such-scenario'\n"
    assert main(["test", str(folder / "missing.scenarios.toml")]) == 1
    assert "missing.scenarios.toml: cannot be read" in capsys.readouterr().err
    _edit(folder, 'flow = "billing"', 'flow = "biling"')
    assert main(["test", str(folder)]) == 1
    assert f"no scenario run: `ivr check {folder}` must pass first" in capsys.readouterr().err


def test_preview_from_files_and_from_redis_say_the_same(folder, redis_server, redis_client, capsys):
    command = ["preview", "+18005550100", "--press", "1,1", "--pick", "bangalore", *AT]
    assert main([*command, "--folder", str(folder)]) == 0
    from_files = capsys.readouterr().out
    assert "Your call will be answered by our team in Bangalore, India." in from_files
    assert main(["load", str(folder), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    assert main([*command, "--redis-url", redis_server.url]) == 0
    from_redis = capsys.readouterr().out

    def heard(transcript: str) -> list[str]:  # Redis lists the centers in another order
        return [line for line in transcript.splitlines() if not line.startswith("  centers: ")]

    # the same call, of the published version (v1) rather than the files' (v0)
    assert heard(from_redis) == heard(from_files.replace("support v0)", "support v1)"))


def test_preview_notes_a_weighted_draw_and_plays_centers_states(capsys):
    assert main(["preview", "+18005550100", "--press", "1,1", *AT]) == 0
    err = capsys.readouterr().err
    assert "note: the weighted route drew " in err and "--pick CENTER draws another" in err
    center_states = [
        "--center",
        "manila=closed",
        "--center",
        "bangalore=closed",
        "--say",
        "agent",
        "--lang",
        "en",
    ]
    assert main(["preview", "+18005550100", "--press", "1,1", *AT, *center_states, "--barge-in"]) == 0
    assert "Scranton" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argument, message",
    [
        (["--at", "2026-13-01T10:00"], "'2026-13-01T10:00' is not a time like 2026-11-30T10:00"),
        (["--at", "2026-11-30T10:00", "--tz", "Mars/Base"], "'Mars/Base' is not an IANA time zone"),
    ],
)
def test_preview_with_a_bad_time_is_one_line_and_exit_2(argument, message, capsys):
    assert main(["preview", "+18005550100", *argument]) == 2
    assert message in one_line(capsys)


def test_preview_of_a_folder_with_problems(folder, capsys):
    _edit(folder, 'flow = "billing"', 'flow = "biling"')
    assert main(["preview", "+18005550100", "--folder", str(folder), *AT]) == 1
    assert "biling" in capsys.readouterr().err


def test_versions_and_diff_of_two_versions(two_versions, capsys):
    assert main(["versions", "support", "--redis-url", two_versions]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and rows[0].startswith("  v1 ") and rows[1].startswith("* v2 ")
    assert rows[1].endswith("  shorter")
    assert main(["diff", "support", "v1", "v2", "--redis-url", two_versions]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--- support v1\n+++ support v2\n")
    assert "-" in out and "Thanks for calling Acme." in out
    assert main(["diff", "support", "2", "v2", "--redis-url", two_versions]) == 0
    assert capsys.readouterr().out == "v2 and v2 are the same\n"


def test_versions_and_diff_of_what_was_never_published(two_versions, capsys):
    assert main(["versions", "nosuch", "--redis-url", two_versions]) == 1
    assert one_line(capsys) == "flow nosuch has no published versions\n"
    assert main(["diff", "support", "v1", "v9", "--redis-url", two_versions]) == 1
    assert one_line(capsys) == "flow support has no version 9\n"


def test_rollback_to_the_version_before_and_to_a_named_one(two_versions, capsys):
    assert main(["rollback", "support", "--redis-url", two_versions, "-m", "back"]) == 0
    assert capsys.readouterr().out.startswith("flow support: version 1 live (was 2)")
    assert main(["rollback", "support", "v2", "--redis-url", two_versions]) == 0
    assert capsys.readouterr().out.startswith("flow support: version 2 live (was 1)")
    assert main(["rollback", "nosuch", "--redis-url", two_versions]) == 1
    assert one_line(capsys) == "flow nosuch: no version to roll back to\n"


def test_a_rollback_that_no_longer_fits_todays_centers_is_refused(folder, two_versions, capsys):
    """v1 of billing names the bangalore center; once a publish renames it, v1 does not fit."""
    _edit(folder, "[centers.bangalore]", "[centers.pune]")
    text = (
        (folder / "acme.toml").read_text().replace('"bangalore"', '"pune"').replace("bangalore =", "pune =")
    )
    (folder / "acme.toml").write_text(text)
    assert main(["load", str(folder), "--redis-url", two_versions, "--allow-removal", "bangalore"]) == 0
    capsys.readouterr()
    assert main(["rollback", "support", "v1", "--redis-url", two_versions]) == 1
    err = capsys.readouterr().err
    assert "bangalore" in err and err.endswith("not rolled back: v1 does not fit today's configuration\n")


def test_fallback_build_with_no_number_to_serve_writes_nothing(redis_server, redis_client, tmp_path, capsys):
    """Published for the US, built for India: no number has a domestic destination at home."""
    assert main(["load", str(FLOWS), "--redis-url", redis_server.url]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    command = ["--home-country", "IN", "fallback", "build", str(out), "--redis-url", redis_server.url]
    assert main(command) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "no fallback built: no number has a flow and a domestic destination"
    assert "note: number +18005550100: no fallback: its flow or domestic destination is missing" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["load", str(FLOWS)],
        ["versions", "support"],
        ["diff", "support", "v1", "v2"],
        ["rollback", "support"],
        ["preview", "+18005550100", *AT],
        ["fallback", "build", "unused"],
    ],
)
def test_every_flows_command_with_redis_not_answering_is_one_line_and_exit_3(
    unanswering_redis, command, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--redis-url", unanswering_redis.url]) == REDIS_DOWN
    assert one_line(capsys).startswith(f"ivr: Redis at 127.0.0.1:{unanswering_redis.port} did not answer")
    assert not any(tmp_path.iterdir())
