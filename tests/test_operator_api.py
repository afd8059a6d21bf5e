"""GET /reports: the compliance report for operators, behind a bearer token."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from ivr.caller import Caller, Phone
from tests.conftest import REPORT_TOKEN, SUPPORT, TOKEN, flask_transport


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_report_needs_the_token(operator_app):
    client = operator_app.test_client()
    url = f"/reports?from={today()}&to={today()}"
    for refused in (client.get(url), client.get(url, headers={"Authorization": "Bearer wrong"})):
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")  # RFC 6750 section 3


def test_report_route_is_off_without_a_token(client):
    assert client.get(f"/reports?from={today()}&to={today()}").status_code == 404


def test_report_counts_the_calls_made(operator_app):
    client = operator_app.test_client()
    phone = Phone("http://localhost", TOKEN, flask_transport(client))
    # The second caller picks English, then an agent, hears Manila (this CallSid's weighted
    # choice whether Bangalore is open or not) and asks for an agent in the US. The period
    # runs from the day the first call was made to the day the last ended: a run across
    # midnight UTC asks for both days.
    first = today()
    transcripts = [
        phone.call(caller)
        for caller in (
            Caller(SUPPORT),
            Caller(SUPPORT, press="1,1,1", call_sid="CA" + "0" * 31 + "1"),
            Caller(SUPPORT),
        )
    ]
    assert any("Manila" in text for text in transcripts[1].heard), transcripts[1]
    period = f"from={first}&to={today()}"
    auth = {"Authorization": f"Bearer {REPORT_TOKEN}"}
    response = client.get(f"/reports?{period}&format=json", headers=auth)
    assert response.status_code == 200
    figures = response.get_json()
    assert figures["volume"]["calls_received"] == 3
    assert figures["transfers"]["requested"] == 1
    html = client.get(f"/reports?{period}", headers=auth)
    assert html.content_type.startswith("text/html")
    parser = HTMLParser()
    parser.feed(html.get_data(as_text=True))
    assert "<script" not in html.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?from=2026-11-01",
        "?from=x&to=y",
        "?from=2026-11-30&to=2026-11-01",
        "?from=2026-11-01&to=2026-11-30&format=pdf",
    ],
)
def test_bad_report_requests_say_what_is_wrong(operator_app, query):
    response = operator_app.test_client().get(
        "/reports" + query, headers={"Authorization": f"Bearer {REPORT_TOKEN}"}
    )
    assert response.status_code == 400
    assert response.get_data(as_text=True).strip()
