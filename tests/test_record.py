"""ivr.record, the evidence record's reads, export marks and pruning, against a real
redis-server: entries read a batch at a time are the stream in order, one call's entries,
the high-water mark across a prune, and the auditor's anchors."""

from __future__ import annotations

import pytest

from ivr import keys
from ivr.anchors import Anchor
from ivr.store import Scope, Store, connect


@pytest.fixture
def store(redis_server, redis_client) -> Store:
    return Store(connect(redis_server.url, timeout=5))


@pytest.fixture
def appended(store) -> list[str]:
    """Seven entries of three calls, as the commit script appends them; their ids."""
    for call, steps in (("CA1", 3), ("CA2", 2), ("CA3", 2)):
        store.commit(call, Scope(), "*", [(f"s{n}", f'["call", "{call}", "n", "{n}"]') for n in range(steps)])
    return [entry_id for entry_id, _ in store.entries()]


def test_entries_a_batch_at_a_time_are_the_stream_in_order(store, redis_client, appended):
    assert len(appended) == 7
    assert appended == [i.decode() for i, _ in redis_client.xrange(keys.EVENTS)]
    assert list(store.entries(batch=2)) == list(store.entries()) == list(store.entries(batch=7))
    assert [i for i, _ in store.entries(appended[2], appended[4], batch=2)] == appended[2:5]
    entry_id, flat = next(store.entries())
    assert flat[:4] == ["call", "CA1", "n", "0"] and flat[-4::2] == ["prev", "hash"]
    assert store.entry(entry_id) == flat
    stored_id, stored = next(store.stored())
    assert stored_id == entry_id and stored[::2] == ["event", "prev", "hash"]


def test_a_calls_entries_are_its_own_in_order_and_a_gone_one_is_none(store, redis_client, appended):
    assert [i for i, _ in store.call_entries("CA2")] == appended[3:5]
    redis_client.xdel(keys.EVENTS, appended[3])
    assert [e is None for _, e in store.call_entries("CA2")] == [True, False]
    assert store.entry(appended[3]) is None
    assert store.next_entry(appended[2]) == (appended[4], store.entry(appended[4]))
    assert store.next_entry(appended[-1]) is None
    assert store.call_entries("CA9") == []


def test_the_high_water_mark_counts_what_was_pruned(store, appended):
    count, last, head = store.high_water()
    assert (count, last, head) == (7, appended[-1], store.chain_head())
    _, through = list(store.entries())[4]
    removed = store.prune(appended[4], through[-1], ["CA1", "CA2"], 5)
    assert removed == 5 and [i for i, _ in store.entries()] == appended[5:]
    assert store.pruned() == (appended[4], through[-1], 5)
    assert store.high_water() == (7, appended[-1], head)
    assert store.call_entries("CA1") == [] and len(store.call_entries("CA3")) == 2
    store.prune(appended[-1], head, ["CA3"], 2)
    assert store.high_water() == (7, appended[-1], head)  # nothing left: the marker says


def test_export_marks_and_anchors_are_kept_in_order(store, appended):
    store.mark_exported(appended[0], appended[2], 3, "a" * 64, "/tmp/out/first.jsonl")
    store.mark_exported(appended[3], appended[6], 4, "b" * 64, "/tmp/out/second.jsonl")
    assert store.exported() == [(appended[0], appended[2]), (appended[3], appended[6])]
    assert store.export_marks() == {
        (appended[0], "first.jsonl"): "a" * 64,
        (appended[3], "second.jsonl"): "b" * 64,
    }
    anchor = Anchor("2026-01-01T00:00:00Z", appended[-1], store.chain_head(), 7)
    store.add_anchor(anchor)
    assert store.anchors() == [anchor]
