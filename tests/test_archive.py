"""The archive: days past the hot window leave Redis for day files, and the record read over
files and Redis is the record as Redis alone held it (verify, anchors, reports)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import UTC, date, datetime, timedelta

import pytest

from ivr import anchors, archive, audit, chain_walk, create_app, keys, report
from ivr.cli import FILE_PROBLEM, main
from ivr.evidence import Keyring, unpack
from ivr.store import Store, connect
from tests import records
from tests.conftest import HASH_KEY, REPORT_TOKEN, TOKEN

KEYS = Keyring("k1", HASH_KEY.encode())
START = datetime(2026, 11, 1, tzinfo=UTC)
TODAY = date(2026, 12, 1)  # 30 days after START: with a 25-day hot window, 5 days archive


@pytest.fixture
def store(redis_server, redis_client) -> Store:
    return Store(connect(redis_server.url, timeout=5))


@pytest.fixture
def month(redis_client, store):
    """400 simulated calls over the 30 days of November, sealed, chained, in Redis."""
    events = records.simulated(400, START, 30)
    records.append(redis_client, KEYS, events)
    return events


def test_archiving_moves_old_days_to_day_files_and_verify_reads_both(store, month, tmp_path):
    before = list(store.entries())
    taken, _ = audit.anchor(store, datetime.now(UTC))  # an anchor over what will leave Redis
    written, why = archive.archive(store, tmp_path, 25, TODAY)
    assert not why and [d.day for d in written] == [f"2026-11-0{i}" for i in range(1, 6)]
    # one file a day, the chain running on from one file to the next and into Redis
    assert all(
        a.head == b.prev and a.before + a.count == b.before
        for a, b in zip(written, written[1:], strict=False)
    )
    in_files = sum(d.count for d in written)
    assert store.pruned() == (written[-1].last, written[-1].head, in_files)
    left = list(store.entries())
    assert left == before[in_files:] and left[0][1][-3] == written[-1].head
    assert all(archive.day_of(i) >= date(2026, 11, 6) for i, _ in left)
    assert [(i, unpack(f)) for i, f in archive.entries(tmp_path, written, store.export_marks())] == before[
        :in_files
    ]
    verdict = audit.verify(store, KEYS, folder=tmp_path)
    assert verdict.intact and verdict.entries == len(before), verdict
    assert verdict.anchors == 1 and taken is not None
    # without the files, Redis alone verifies from its pruned marker, as before
    assert audit.verify(store, KEYS).intact
    # run again the next day: one more file, nothing twice
    again, _ = archive.archive(store, tmp_path, 25, TODAY + timedelta(days=1))
    assert [d.day for d in again] == ["2026-11-06"] and again[0].prev == written[-1].head
    assert audit.verify(store, KEYS, folder=tmp_path).entries == len(before)
    assert archive.archive(store, tmp_path, 25, TODAY + timedelta(days=1)) == ([], "")


def test_an_edited_day_file_is_caught(store, month, tmp_path):
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    path = tmp_path / written[2].file
    lines = path.read_text().splitlines()
    row = json.loads(lines[3])
    assert row[1] == "event" and '"2026-11-03T' in row[2]  # the sealed text, as Redis held it
    row[2] = row[2].replace('"2026-11-03T', '"2026-11-04T', 1)
    lines[3] = json.dumps(row, separators=(",", ":"))
    path.write_text("\n".join(lines) + "\n")
    verdict = audit.verify(store, KEYS, folder=tmp_path)
    assert verdict.broken_at == row[0] and "edited" in verdict.problem, verdict


def test_a_day_file_rewritten_with_its_manifest_line_is_caught(store, month, tmp_path):
    # even with the chain relinked and the manifest's SHA-256 recomputed, Redis's export
    # mark (the operator's user writes it, not whoever can write the archive) disagrees
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    target = written[-1]
    path = tmp_path / target.file
    kept = path.read_bytes().splitlines(keepends=True)[:-1]  # drop the day's last entry
    path.write_bytes(b"".join(kept))
    manifest = (tmp_path / archive.MANIFEST).read_text().splitlines()
    last = json.loads(kept[-1])
    forged = {
        **json.loads(manifest[-1]),
        "count": len(kept),
        "last": last[0],
        "head": last[-1],
        "sha256": hashlib.sha256(b"".join(kept)).hexdigest(),
    }
    (tmp_path / archive.MANIFEST).write_text("\n".join([*manifest[:-1], json.dumps(forged)]) + "\n")
    verdict = audit.verify(store, KEYS, folder=tmp_path)
    assert verdict.broken_at == target.file and "rewritten" in verdict.problem, verdict


def test_a_missing_day_file_is_caught(store, month, tmp_path):
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    (tmp_path / written[1].file).unlink()
    verdict = audit.verify(store, KEYS, folder=tmp_path)
    assert verdict.broken_at == written[1].file and "missing" in verdict.problem, verdict


def test_a_day_dropped_from_file_and_manifest_breaks_the_chain(store, month, tmp_path):
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    (tmp_path / written[1].file).unlink()
    lines = (tmp_path / archive.MANIFEST).read_text().splitlines()
    (tmp_path / archive.MANIFEST).write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    verdict = audit.verify(store, KEYS, folder=tmp_path)
    assert verdict.broken_at == written[2].first and "deleted" in verdict.problem, verdict


def test_a_crash_before_pruning_is_finished_by_the_next_run(store, month, tmp_path):
    # the day file and its manifest line are on disk, Redis still holds the day
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    in_files = sum(d.count for d in written)
    everything = [(i, unpack(f)) for i, f in archive.entries(tmp_path, written, {})]
    everything += list(store.entries())
    store.client.delete(keys.AUDIT_PRUNED)
    store.client.delete(keys.EVENTS)
    records.append(store.client, KEYS, records.simulated(400, START, 30))
    assert list(store.entries()) == everything  # the same record again, nothing pruned
    assert archive.archive(store, tmp_path, 25, TODAY) == ([], "")
    assert store.pruned()[2] == in_files
    assert audit.verify(store, KEYS, folder=tmp_path).entries == len(everything)


def test_report_over_files_and_redis_equals_report_over_redis(store, redis_client, month, tmp_path):
    start, end = date(2026, 11, 1), date(2026, 11, 30)
    alone = report.build_report(report.as_events(audit.period(store, start, end)), start, end)
    archive.archive(store, tmp_path, 25, TODAY)
    assert len(list(store.entries())) < len(month)
    both = report.build_report(report.as_events(audit.period(store, start, end, tmp_path)), start, end)
    assert report.render(both, "json") == report.render(alone, "json")
    assert alone.volume.calls_received > 300
    # a period inside the archive alone, and one across its edge
    for first, last in ((date(2026, 11, 2), date(2026, 11, 3)), (date(2026, 11, 4), end)):
        from_files = list(audit.period(store, first, last, tmp_path))
        assert from_files and all(
            first <= archive.day_of(i) <= last + timedelta(days=1) for i, _ in from_files
        )


def test_stored_rows_are_read_as_the_unpacked_entries(store, month, tmp_path):
    """``stored_events`` over the rows as Redis and the day files hold them gives the report
    of ``as_events`` over the unpacked entries, in every format; entries of the earlier layout
    and sealed text that is not an event's are read the unpacked way."""
    start, end = date(2026, 11, 1), date(2026, 11, 30)
    archive.archive(store, tmp_path, 25, TODAY)
    unpacked = list(audit.period(store, start, end, tmp_path))
    rows = list(audit.period(store, start, end, tmp_path, stored=True))
    assert [i for i, _ in rows] == [i for i, _ in unpacked] and rows[0][1][0] == "event"
    assert [unpack(f) for _, f in rows] == [f for _, f in unpacked]
    odd = [
        ("9990000000000-0", ["call", "CAold", "step", "routed"]),  # earlier layout
        ("9990000000000-1", ["event", "not json", "prev", "p", "hash", "h"]),
        ("9990000000000-2", ["event", '["call","CAodd","step"]', "prev", "p", "hash", "h"]),
    ]
    for tail in ([], odd):
        entries = [*unpacked, *((i, unpack(f)) for i, f in tail)]
        old = report.build_report(report.as_events(entries), start, end)
        new = report.build_report(report.stored_events([*rows, *tail]), start, end)
        assert old.volume.calls_received > 300
        for fmt in report.FORMATS:
            assert report.render(new, fmt) == report.render(old, fmt)
    assert new.source.malformed_events == old.source.malformed_events > 0


def test_the_reports_route_reads_the_archive_too(redis_server, store, month, tmp_path):
    # the operator instance with IVR_ARCHIVE_DIR: the same report as before archiving
    app = create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_server.url,
            "spool_dir": str(tmp_path / "spool"),
            "report_token": REPORT_TOKEN,
            "archive_dir": str(tmp_path / "archive"),
        }
    )
    client = app.test_client()
    query = "/reports?from=2026-11-01&to=2026-11-30&format=json"
    auth = {"Authorization": f"Bearer {REPORT_TOKEN}"}
    before = client.get(query, headers=auth)
    assert before.status_code == 200 and before.json["volume"]["calls_received"] > 300
    archive.archive(store, tmp_path / "archive", 25, TODAY)
    assert client.get(query, headers=auth).json == before.json


def test_the_cli_archives_and_verifies_over_files(redis_server, store, month, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    url = ["--redis-url", redis_server.url, "--archive", str(tmp_path)]
    assert main(["audit", "archive", "--hot-days", "3", *url]) == 0
    assert "archived" in capsys.readouterr().out
    assert main(["audit", "verify", *url]) == 0
    assert f"intact: {len(month)} entries" in capsys.readouterr().out
    assert main(["report", "--from", "2026-11-01", "--to", "2026-11-30", "--format", "json", *url]) == 0
    assert json.loads(capsys.readouterr().out)["volume"]["calls_received"] > 300


def _peak_verify(store: Store, client, folder, calls: int) -> int:
    client.flushall()
    records.append(client, KEYS, records.simulated(calls, START, 30, seed=calls))
    folder.mkdir()
    log = folder / "anchors.jsonl"
    taken = _anchors_every(list(store.entries()), 20)  # anchors grow with the record too
    for anchor in taken:
        store.add_anchor(anchor)
        anchors.append(log, anchor)
    archive.archive(store, folder / "days", 15, TODAY)
    tracemalloc.start()
    verdict = audit.verify(store, KEYS, log, folder / "days")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert verdict.intact and verdict.anchors == len(taken), verdict
    return peak


@pytest.mark.slow
def test_verify_memory_does_not_grow_with_the_record(store, redis_client, tmp_path):
    # four times the record (about 20k and 80k entries, half of them in day files, an
    # anchor every 20 in Redis and in the local log) must not take four times the memory:
    # verify reads a batch or a chunk at a time, anchors too
    small = _peak_verify(store, redis_client, tmp_path / "small", 3_000)
    large = _peak_verify(store, redis_client, tmp_path / "large", 12_000)
    print(f"verify peak: {small / 2**20:.1f} MiB at ~20k entries, {large / 2**20:.1f} MiB at ~80k")
    assert large < small * 1.25, (small, large)


def _anchors_every(entries: list[tuple[str, list[str]]], step: int) -> list[anchors.Anchor]:
    """Anchors a timer would have taken every ``step`` entries."""
    return [
        anchors.Anchor(f"2026-11-{1 + n // 400:02d}T00:00:00.000+00:00", i, f[-1], n)
        for n, (i, f) in enumerate(entries, 1)
        if n % step == 0
    ]


def test_anchors_are_held_across_day_files_and_redis_as_they_stream(store, month, tmp_path):
    # anchors in Redis and in the local log, over entries that go to day files and over
    # those that stay: verify meets each in turn, the file boundaries and the step into
    # Redis included, and catches an anchor the archive no longer matches
    before = list(store.entries())
    taken = _anchors_every(before, 37)
    for anchor in taken[::2]:
        store.add_anchor(anchor)
    log = tmp_path / "anchors.jsonl"
    for anchor in taken[1::3]:  # some in both places, some in the log alone
        anchors.append(log, anchor)
    written, _ = archive.archive(store, tmp_path / "days", 25, TODAY)
    in_files = sum(d.count for d in written)
    edges = {d.last for d in written}
    assert sum(a.count <= in_files for a in taken) > 10 and sum(a.count > in_files for a in taken) > 10
    held = {a.last for a in taken[::2]} | {a.last for a in taken[1::3]}
    verdict = audit.verify(store, KEYS, anchors.streamed(log), tmp_path / "days")
    assert verdict.intact and verdict.anchors == len(held), verdict
    # an anchor on the last entry of a day file, and on the first one after it
    last = before[in_files - 1]
    on_edge = [
        anchors.Anchor("x", i, f[-1], n) for n, (i, f) in ((in_files, last), (in_files + 1, before[in_files]))
    ]
    assert last[0] in edges
    assert audit.verify(store, KEYS, on_edge, tmp_path / "days").intact
    # one day file's entry attested with another hash: named at that entry, in its file
    at = written[1].before + 3  # the third entry of the second day file
    inside = anchors.Anchor("y", before[at - 1][0], before[at - 1][1][-1], at)
    assert audit.verify(store, KEYS, [inside], tmp_path / "days").intact
    forged = anchors.Anchor(inside.at, inside.last, "0" * 40, inside.count)
    store.client.delete(keys.AUDIT_ANCHORS)
    store.add_anchor(inside)
    verdict = audit.verify(store, KEYS, [forged], tmp_path / "days")
    assert verdict.broken_at == "anchors" and "disagree" in verdict.problem, verdict
    store.client.delete(keys.AUDIT_ANCHORS)
    verdict = audit.verify(store, KEYS, [forged], tmp_path / "days")
    assert verdict.broken_at == inside.last and "rewritten" in verdict.problem, verdict
    assert verdict.entries == inside.count


def test_a_day_file_line_that_is_not_an_entry_is_named_with_anchors_pending(store, month, tmp_path):
    # a line that is not JSON, or holds something other than text, is named at its place
    # in the chain (it used to crash the anchors' id comparison or the MAC check)
    everything = list(store.entries())
    written, _ = archive.archive(store, tmp_path, 25, TODAY)
    late = _anchors_every(everything, 300)[-1]
    path = tmp_path / written[1].file
    lines = path.read_text().splitlines()
    row = json.loads(lines[2])
    for bad in ("not json", json.dumps([row[0], "event", 7, *row[3:]])):
        path.write_text("\n".join([*lines[:2], bad, *lines[3:]]) + "\n")
        verdict = audit.verify(store, KEYS, [late], tmp_path)
        assert verdict.entries == written[1].before + 3 and not verdict.intact, verdict
        assert ("not text" if bad != "not json" else "no chain fields") in verdict.problem


def _forge_manifest_head(store, folder, written, before):
    lines = (folder / archive.MANIFEST).read_text().splitlines()
    last = {**json.loads(lines[-1]), "head": "e" * 40}
    (folder / archive.MANIFEST).write_text("\n".join([*lines[:-1], json.dumps(last)]) + "\n")


def _edit_a_day_file(store, folder, written, before):
    path = folder / written[2].file
    lines = path.read_text().splitlines()
    row = json.loads(lines[3])
    row[2] = row[2].replace('"2026-11-03T', '"2026-11-04T', 1)
    path.write_text("\n".join([*lines[:3], json.dumps(row, separators=(",", ":")), *lines[4:]]) + "\n")


def _delete_from_redis(store, folder, written, before):
    store.client.xdel("onshore:events", before[sum(d.count for d in written) + 5][0])


def _anchor_between_files_and_redis(store, folder, written, before):
    # an anchor of an entry that would sit after the files' last and before Redis's first
    last = before[sum(d.count for d in written) - 1]
    ms, seq = archive.stream_order(last[0])
    store.add_anchor(anchors.Anchor("z", f"{ms}-{seq + 1}", "a" * 40, len(before)))


@pytest.mark.parametrize(
    "tamper",
    [None, _forge_manifest_head, _edit_a_day_file, _delete_from_redis, _anchor_between_files_and_redis],
)
def test_verify_in_two_processes_answers_as_one_walk_in_order(store, month, tmp_path, monkeypatch, tamper):
    # the day files walked by a child process while this one walks Redis: the verdict,
    # intact or broken, entries, anchors and all, is the one a single walk gives
    before = list(store.entries())
    for anchor in _anchors_every(before, 41):
        store.add_anchor(anchor)
    log = tmp_path / "anchors.jsonl"
    for anchor in _anchors_every(before, 53):
        anchors.append(log, anchor)
    folder = tmp_path / "days"
    written, _ = archive.archive(store, folder, 25, TODAY)
    if tamper is not None:
        tamper(store, folder, written, before)
    forks = []
    child = chain_walk._Child
    monkeypatch.setattr(chain_walk, "_Child", lambda work: forks.append(1) or child(work))
    one = audit.verify(store, KEYS, log, folder, split_at=10**9)
    assert not forks
    two = audit.verify(store, KEYS, log, folder, split_at=1)
    assert forks == [1] and two == one
    assert one.intact == (tamper in (None, _forge_manifest_head)), one
    assert one.anchors > 10 or not one.intact


def test_the_cli_holds_the_record_to_a_local_anchor_log_read_as_it_goes(
    redis_server, store, month, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", HASH_KEY)
    log = tmp_path / "anchors.jsonl"
    taken = _anchors_every(list(store.entries()), 97)
    for anchor in taken:
        anchors.append(log, anchor)
    url = ["--redis-url", redis_server.url, "--archive", str(tmp_path / "days")]
    assert main(["audit", "archive", "--hot-days", "25", *url]) == 0
    assert main(["audit", "verify", "--anchors", str(log), *url]) == 0
    assert f"held to {len(taken)} anchors" in capsys.readouterr().out
    with open(log, "a") as f:
        f.write("not an anchor\n")
    anchors.append(log, taken[-1])
    assert main(["audit", "verify", "--anchors", str(log), *url]) == 1
    assert f"{log}:{len(taken) + 1}: not an anchor line" in capsys.readouterr().err
    assert main(["audit", "verify", "--anchors", str(tmp_path / "none.jsonl"), *url]) == FILE_PROBLEM
    assert "cannot read the anchor log" in capsys.readouterr().err
