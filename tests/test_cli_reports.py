"""`ivr report` (ivr/cli/reports.py) over a simulated November in a real redis-server: each
format, the period's failures as one line and exit 1, and the notes a script would miss."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from ivr.cli import REDIS_DOWN, main
from ivr.evidence import Keyring
from tests import records
from tests.conftest import HASH_KEY, one_line

KEYS = Keyring("k1", HASH_KEY.encode())
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]


@pytest.fixture
def month(redis_server, redis_client, monkeypatch):
    """200 simulated calls over November 2026 (fixed days, not today's)."""
    monkeypatch.delenv("IVR_ARCHIVE_DIR", raising=False)
    events = records.simulated(200, datetime(2026, 11, 1, tzinfo=UTC), 30)
    records.append(redis_client, KEYS, events)
    return redis_server.url


def test_the_text_report_of_a_month(month, capsys):
    assert main(["report", *NOVEMBER, "--redis-url", month]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Onshore compliance report, 2026-11-01 to 2026-11-30 (UTC), all flows\n")
    assert "Calls received ...." in out and err == ""


def test_every_format_holds_the_same_count(month, capsys):
    assert main(["report", *NOVEMBER, "--format", "json", "--redis-url", month]) == 0
    received = json.loads(capsys.readouterr().out)["volume"]["calls_received"]
    assert received > 0
    assert main(["report", *NOVEMBER, "--format", "csv", "--redis-url", month]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {"section": "volume", "metric": "calls_received", "key": "", "value": str(received)} in rows
    assert main(["report", *NOVEMBER, "--format", "html", "--redis-url", month]) == 0
    html = capsys.readouterr().out
    assert html.startswith("<!DOCTYPE html>") and f"{received:,}" in html


def test_one_flows_report(month, capsys):
    assert main(["report", *NOVEMBER, "--format", "json", "--redis-url", month]) == 0
    everything = json.loads(capsys.readouterr().out)["volume"]["calls_received"]
    assert main(["report", *NOVEMBER, "--format", "json", "--flow", "support", "--redis-url", month]) == 0
    support = json.loads(capsys.readouterr().out)
    assert support["flow"] == "support" and 0 < support["volume"]["calls_received"] < everything


@pytest.mark.parametrize("form", ["text", "csv", "json", "html"])
def test_an_unknown_flow_is_warned_about_in_every_format(month, capsys, form):
    assert main(["report", *NOVEMBER, "--flow", "suport", "--format", form, "--redis-url", month]) == 0
    out, err = capsys.readouterr()
    warning = "No call of flow 'suport' was received in this period: is the flow's id right?"
    if form in ("text", "html"):
        assert warning in out.replace("&#x27;", "'") and err == ""
    else:
        assert err == f"note: {warning[0].lower()}{warning[1:]} (`ivr versions FLOW` lists its versions)\n"


def test_a_missing_archive_folder_is_noted(month, tmp_path, capsys):
    missing = tmp_path / "archive"
    assert main(["report", *NOVEMBER, "--archive", str(missing), "--redis-url", month]) == 0
    out, err = capsys.readouterr()
    assert (
        err == f"note: the archive folder {missing} does not exist: the report holds only what Redis holds\n"
    )
    assert out.startswith("Onshore compliance report")


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("2026-13-01", "2026-11-30", "from '2026-13-01' is not a date like 2026-11-01"),
        ("2026-11-30", "2026-11-01", "the period ends (2026-11-01) before it starts (2026-11-30)"),
        ("2026-11-01", "", "to is required, as a date like 2026-11-01"),
    ],
)
def test_a_bad_period_is_one_line_and_exit_1(month, capsys, start, end, message):
    assert main(["report", "--from", start, "--to", end, "--redis-url", month]) == 1
    assert one_line(capsys) == f"ivr: {message}\n"


def test_a_report_with_redis_not_answering_is_one_line_and_exit_3(unanswering_redis, capsys):
    assert main(["report", *NOVEMBER, "--redis-url", unanswering_redis.url]) == REDIS_DOWN
    assert one_line(capsys).startswith(f"ivr: Redis at 127.0.0.1:{unanswering_redis.port} did not answer")
