"""GET /metrics over real HTTP: gunicorn with 2 workers (deploy/gunicorn.conf.py, so
prometheus_client's multiprocess mode) over a private redis-server, calls played by
ivr.caller.Phone, and the scrape summed across both workers; the dashboard's queries name
only what the app exports."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from ivr import metrics
from ivr.caller import Caller, Phone
from ivr.vocabulary import Event
from tests.conftest import TOKEN, http_transport, serving
from tests.servers import Gunicorn, RedisServer

ROOT = Path(__file__).resolve().parent.parent
FLOWS = Path(__file__).resolve().parent / "e2e_flows"
DASHBOARD = ROOT / "deploy" / "grafana" / "onshore.json"
SUPPORT, HOME = "+18005550101", "+18005550102"  # Manila (offshore) first; Scranton only
METRICS_TOKEN = "metrics-test-token"


def scrape(base_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by (name, labels)."""
    r = requests.get(base_url + "/metrics", timeout=5, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def per_worker(folder: Path, name: str) -> dict[str, float]:
    """This counter's value in each worker's own file (what the scrape must sum)."""
    found = {}
    for path in folder.glob("counter_*.db"):
        d = MmapedDict(str(path), read_mode=True)
        try:
            found[path.stem] = sum(v for key, v, _ in d.read_all_values() if json.loads(key)[1] == name)
        finally:
            d.close()
    return found


def counting(folder: Path) -> list[float]:
    """The calls each worker that counted any has counted."""
    return [n for n in per_worker(folder, "onshore_calls_received_total").values() if n]


def play(base_url: str, calls: list[Caller]):
    """The calls played all at once, each on connections of its own."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda c: Phone(base_url, TOKEN, http_transport()).call(c), calls))


class Served(NamedTuple):
    server: RedisServer
    gunicorn: Gunicorn
    metrics_dir: Path  # PROMETHEUS_MULTIPROC_DIR
    spool: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prometheus")
    (folder / "counter_1.db").write_bytes(b"left by a previous run")  # must be wiped at start
    spool = tmp_path_factory.mktemp("spool")
    with serving(FLOWS, spool, IVR_METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(folder)) as (
        server,
        gunicorn,
    ):
        yield Served(server, gunicorn, folder, spool)


def test_metrics_need_their_token(served):
    gunicorn = served.gunicorn
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = requests.get(gunicorn.base_url + "/metrics", headers=headers, timeout=5)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="onshore-metrics"'
        assert "onshore_" not in r.text


def test_counters_sum_what_was_played_across_both_workers(served):
    gunicorn, folder = served.gunicorn, served.metrics_dir
    before = scrape(gunicorn.base_url)
    # All at once (a sync worker serves one connection at a time): both workers serve some.
    calls = (
        [Caller(SUPPORT) for _ in range(4)]  # disclosed, offered, bridged to Manila
        + [Caller(SUPPORT, press="1") for _ in range(3)]  # ... transfer by key: Scranton
        + [Caller(HOME) for _ in range(2)]  # Scranton only: no disclosure due
        + [Caller(SUPPORT, outcomes=["hangup"])]  # hangs up in Manila's queue
        + [Caller(SUPPORT, wait=3600)]
    )  # past Manila's max_wait: overflow to Bangalore
    transcripts = play(gunicorn.base_url, calls)
    extra = 0  # should one worker have taken them all: more plain calls, at most 5 rounds
    while len(counting(folder)) < 2 and extra < 40:
        transcripts += play(gunicorn.base_url, [Caller(HOME) for _ in range(8)])
        extra += 8
    assert all(set(t.statuses) == {200} for t in transcripts)
    after = scrape(gunicorn.base_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("onshore_calls_received_total") == 11 + extra
    assert moved("onshore_disclosures_total", kind="named") == 10
    assert moved("onshore_offers_total") == 10
    assert moved("onshore_disclosure_exemptions_total", reason="domestic-center") == 2 + extra
    assert moved("onshore_transfer_requests_total", channel="key") == 3
    assert moved("onshore_transfer_requests_total", channel="voice") == 0
    assert moved("onshore_bridges_total", center="manila", location="offshore") == 6
    assert moved("onshore_bridges_total", center="bangalore", location="offshore") == 1
    assert moved("onshore_wait_limits_total", center="manila") == 1
    assert moved("onshore_bridges_total", center="scranton", location="domestic") == 5 + extra
    assert moved("onshore_abandoned_calls_total") == 1
    assert moved("onshore_webhook_duration_seconds_count", route="/voice") == 11 + extra
    assert moved("onshore_evidence_commit_duration_seconds_count") >= 11
    assert value(after, "onshore_redis_breaker_workers", state="closed") == 2
    assert value(after, "onshore_redis_breaker_workers", state="open") == 0
    # the scrape is the sum of two workers' files, each of which counted some of the calls
    counts = counting(folder)
    assert len(counts) == 2, counts
    assert sum(counts) == value(after, "onshore_calls_received_total")
    assert not (folder / "counter_1.db").exists()
    # no caller data in any label: not a number, not a CallSid
    labels = " ".join(v for (_, pairs) in after for _, v in pairs)
    assert not re.search(r"\+?\d{10}|CA[0-9a-f]{32}", labels), labels


def test_refused_requests_are_counted_by_route_and_reason(served):
    gunicorn = served.gunicorn
    before = scrape(gunicorn.base_url)
    forged = requests.post(
        gunicorn.base_url + "/voice",
        data={"CallSid": "CA" + "0" * 32},
        headers={"X-Twilio-Signature": "forged"},
        timeout=5,
    )
    phone = Phone(gunicorn.base_url, TOKEN, http_transport())
    stuffed = phone.post("/voice", {"CallSid": "CA" + "1" * 32, "Digit": "s1"})
    after = scrape(gunicorn.base_url)
    assert forged.status_code == 403 and stuffed[0] == 403
    for reason in ("forged", "parameters"):
        key = ("onshore_refused_requests_total", (("reason", reason), ("route", "/voice")))
        assert after[key] - before.get(key, 0.0) == 1, reason


def test_no_token_no_route(client):
    assert client.get("/metrics").status_code == 404


def test_safe_answer_reasons_are_a_fixed_set():
    assert metrics.safe_reason("unknown number") == "unknown_number"
    assert metrics.safe_reason("internal error at state 'menu'") == "engine_error"
    assert metrics.safe_reason("KeyError: '+12025550143'") == "other"
    assert metrics.safe_reason("anything a caller could send") == "other"


def dashboard_metrics() -> set[str]:
    """Every metric name the dashboard's panel queries read."""
    board = json.loads(DASHBOARD.read_text())
    names = set()
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', "", target["expr"])
            names |= {n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if n.startswith("onshore_")}
    return names


def test_every_dashboard_query_names_an_exported_metric(served):
    gunicorn = served.gunicorn
    Phone(gunicorn.base_url, TOKEN, http_transport()).call(Caller(SUPPORT, press="1"))
    requests.post(
        gunicorn.base_url + "/voice", data={}, headers={"X-Twilio-Signature": "x"}, timeout=5
    )  # and a refusal
    exported = {name for name, _ in scrape(gunicorn.base_url)}
    used = dashboard_metrics()
    assert len(used) >= 10, used
    assert used <= exported, used - exported


def test_an_unknown_number_is_a_safe_answer_counted_by_reason(served):
    gunicorn = served.gunicorn
    before = scrape(gunicorn.base_url)
    t = Phone(gunicorn.base_url, TOKEN, http_transport()).call(Caller("+18005559999"))
    after = scrape(gunicorn.base_url)
    assert set(t.statuses) == {200} and t.heard, t
    key = ("onshore_safe_answers_total", (("reason", "unknown_number"),))
    assert after[key] - before[key] == 1
    assert value(after, "onshore_calls_received_total") - value(before, "onshore_calls_received_total") == 1


def test_label_values_come_from_fixed_sets_whatever_an_event_says():
    def sample(name: str, **labels: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    events = [
        Event("disclosed:1:d", "disclosed", (("cautious", "true"),)),
        Event("transfer_requested:1:d", "transfer_requested", (("by", "+12025550143"),)),
        Event("exempt:1:d", "exempt", (("reason", "CA" + "0" * 32),)),
        Event("safe_answer:1:d", "safe_answer", (("reason", "caller said +12025550143"),)),
    ]
    named = [
        ("onshore_disclosures_total", {"kind": "cautious"}),
        ("onshore_transfer_requests_total", {"channel": "other"}),
        ("onshore_disclosure_exemptions_total", {"reason": "other"}),
        ("onshore_safe_answers_total", {"reason": "other"}),
    ]
    before = [sample(name, **labels) for name, labels in named]
    metrics.count(events)
    assert [sample(name, **labels) - was for (name, labels), was in zip(named, before, strict=True)] == [
        1
    ] * 4


def test_redis_stopping_moves_the_error_counter_and_the_breaker(served):
    server, gunicorn = served.server, served.gunicorn
    before = scrape(gunicorn.base_url)
    server.stop()
    phone = Phone(gunicorn.base_url, TOKEN, http_transport())
    transcripts = [phone.call(Caller(SUPPORT)) for _ in range(4)]  # bounded: 4 calls
    after = scrape(gunicorn.base_url)
    assert all(set(t.statuses) == {200} for t in transcripts)  # answered from memory
    errors = sum(
        value(after, "onshore_redis_errors_total", kind=k)
        - value(before, "onshore_redis_errors_total", kind=k)
        for k in ("error", "breaker_open")
    )
    assert errors >= 4
    assert value(after, "onshore_redis_breaker_workers", state="closed") < 2
    files = list(served.spool.glob("spool-*.jsonl"))
    assert value(after, "onshore_spool_bytes") == sum(p.stat().st_size for p in files) > 0
    assert value(after, "onshore_spool_files") == len(files)  # the evidence waits on disk
    assert 0 < value(after, "onshore_spool_oldest_event_age_seconds") < 60
    assert "Traceback" not in gunicorn.output()
