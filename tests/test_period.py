"""Odd dates get a clear error, never a 500 or a traceback: GET /reports (400 with the
reason), `ivr report`, `ivr audit export` and `ivr audit prune` (one line, non-zero exit),
against a real redis-server holding a call's evidence."""

from __future__ import annotations

import pytest

from ivr.caller import Caller, Phone
from ivr.cli import main
from tests.conftest import REPORT_TOKEN, SUPPORT, TOKEN, flask_transport
from tests.test_operator_api import today

ODD = [
    ("from=2026-11-01&to=9999-12-31", "to 9999-12-31 is after 9999-12-29, the last day a period may end"),
    ("from=1969-12-31&to=2026-11-30", "from 1969-12-31 is before 1970-01-01: the record holds nothing older"),
    ("from=2026-13-01&to=2026-12-31", "from '2026-13-01' is not a date like 2026-11-01"),
    ("from=20261101&to=2026-11-30", "from '20261101' is not a date like 2026-11-01"),
    ("from=2026-11-30&to=2026-11-01", "the period ends (2026-11-01) before it starts (2026-11-30)"),
    ("from=1970-01-01&to=9999-12-29", "the period is 2932895 days; at most 3660"),
    ("to=2026-11-30", "from is required, as a date like 2026-11-01"),
]


@pytest.mark.parametrize(("query", "message"), ODD)
def test_odd_dates_on_reports_get_400_with_the_reason(operator_app, query, message):
    response = operator_app.test_client().get(
        f"/reports?{query}", headers={"Authorization": f"Bearer {REPORT_TOKEN}"}
    )

    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == message + "\n"


def cli_args(query: str) -> list[str]:
    return [
        part
        for pair in query.split("&")
        for name, _, value in [pair.partition("=")]
        for part in (f"--{name}", value)
    ]


@pytest.mark.parametrize("command", [["report"], ["audit", "export", "--out", "OUT"]])
@pytest.mark.parametrize(("query", "message"), [q for q in ODD if "from=" in q[0]])
def test_odd_dates_on_the_cli_get_one_line_and_exit_1(
    operator_app, redis_server, tmp_path, capsys, command, query, message
):
    out = tmp_path / "export.jsonl"
    argv = [
        *(str(out) if a == "OUT" else a for a in command),
        *cli_args(query),
        "--redis-url",
        redis_server.url,
    ]

    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err == f"ivr: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("before", ["1969-12-31", "2026-02-30", "soon"])
def test_odd_prune_date_gets_one_line(redis_server, redis_client, capsys, before):
    assert main(["audit", "prune", "--before", before, "--redis-url", redis_server.url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ivr: before") and err.count("\n") == 1


@pytest.mark.parametrize("days", ["-1", "99999999"])
def test_odd_retention_gets_one_line(redis_server, redis_client, capsys, days):
    assert (
        main(
            [
                "audit",
                "prune",
                "--before",
                "2026-01-01",
                "--retention-days",
                days,
                "--redis-url",
                redis_server.url,
            ]
        )
        == 1
    )
    assert capsys.readouterr().err == f"ivr: retention-days {days} must be 0 to 36600\n"


def test_the_widest_periods_still_report(operator_app, redis_server, capsys):
    client = operator_app.test_client()
    made = today()  # the period asked for holds the day the call began, even across midnight
    Phone("http://localhost", TOKEN, flask_transport(client)).call(Caller(SUPPORT))
    auth = {"Authorization": f"Bearer {REPORT_TOKEN}"}

    early = client.get("/reports?from=1970-01-01&to=1970-01-02&format=json", headers=auth)
    late = client.get("/reports?from=9999-12-01&to=9999-12-29&format=json", headers=auth)
    now = client.get(f"/reports?from={made}&to={today()}&format=json", headers=auth)

    assert [r.status_code for r in (early, late, now)] == [200, 200, 200]
    calls = [r.get_json()["volume"]["calls_received"] for r in (early, late, now)]
    assert calls == [0, 0, 1]
    assert (
        main(["report", "--from", "9999-12-01", "--to", "9999-12-29", "--redis-url", redis_server.url]) == 0
    )
