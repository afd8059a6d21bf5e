"""Versions under load, over real HTTP: publishing, rolling back and diffing while calls run.
No call fails, a call in progress keeps the version it started on, new calls get the new one."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from ivr.caller import Caller, Phone
from ivr.store import Store, connect
from tests.conftest import TOKEN, http_transport, publish, serving

FLOWS = Path(__file__).resolve().parent / "e2e_flows"
SUPPORT = "+18005550101"  # Manila first; a full queue overflows to Bangalore (disclosed again)
WORDINGS = {1: "our team in", 2: "our colleagues in", 3: "our agents in"}


def folder_with(tmp: Path, version: int) -> Path:
    """The e2e flows with the support disclosure worded for one version."""
    folder = tmp / f"v{version}"
    if not folder.exists():
        shutil.copytree(FLOWS, folder)
        support = folder / "support.toml"
        support.write_text(support.read_text().replace("our team in", WORDINGS[version]))
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with serving(FLOWS, tmp_path_factory.mktemp("spool")) as (server, gunicorn):
        yield server, gunicorn, tmp_path_factory.mktemp("versions")


def wordings_heard(transcript) -> set[str]:
    disclosures = [h for h in transcript.heard if "will be answered by" in h]
    assert len(disclosures) == 2, transcript  # Manila, then Bangalore after the busy bridge
    return {w for w in WORDINGS.values() for d in disclosures if w in d}


def test_publish_and_rollback_under_concurrent_calls(stack):
    server, gunicorn, tmp = stack
    store = Store(connect(server.url, timeout=5))
    failures: list[str] = []
    transcripts = []
    done = threading.Event()

    def caller() -> None:
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        while not done.is_set():
            try:
                transcripts.append(phone.call(Caller(SUPPORT, outcomes=["queue-full", "completed"])))
            except Exception as exc:  # noqa: BLE001 - a failed call is the finding
                failures.append(repr(exc))

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        changes = []
        for version in (2, 3):
            time.sleep(0.4)
            changes.append(publish(server.url, folder_with(tmp, version))["support"])
        time.sleep(0.4)
        changes.append(store.rollback("support", changes[0], by="tests", message="rollback"))
        time.sleep(0.4)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=20)

    assert not failures, failures[:3]
    assert len(transcripts) > 20
    for transcript in transcripts:
        assert set(transcript.statuses) == {200}, transcript
        assert len(wordings_heard(transcript)) == 1, transcript  # one version per call
    heard = {w for t in transcripts for w in wordings_heard(t)}
    assert heard >= {WORDINGS[1], WORDINGS[2]}, heard  # calls ran on several versions

    # v2 is live again after the rollback: the next call hears its wording
    assert store.live_version("support") == changes[0]
    after = Phone(gunicorn.base_url, TOKEN, http_transport()).call(
        Caller(SUPPORT, outcomes=["queue-full", "completed"])
    )
    assert wordings_heard(after) == {WORDINGS[2]}

    versions = store.versions("support")
    assert [v["live"] for v in versions].count(True) == 1
    assert {v["version"] for v in versions} >= set(changes[:2])
    log = store.config_log()
    assert log[0]["action"] == "rollback" and log[1]["action"] == "publish"
