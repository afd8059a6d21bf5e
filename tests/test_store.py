"""ivr.store, the webhooks' commit path, against a real redis-server: what a commit returns
(WRITTEN or Stale with the view to decide on again), how the script appends and chains
entries, idempotency per step, a call's own keys, and the queue waits."""

from __future__ import annotations

import json

import pytest

from ivr import evidence, keys
from ivr.errors import StoreUnavailable
from ivr.estimate import RECENT
from ivr.store import CALL_TTL, WRITTEN, Scope, Stale, Store, Written, connect
from tests.conftest import SUPPORT, publish


@pytest.fixture
def store(redis_server, redis_client) -> Store:
    return Store(connect(redis_server.url, timeout=5))


def test_a_commit_whatever_the_configuration_is_written_once_per_step(store, redis_client):
    sealed = [("s1", '["x", "1"]'), ("s2", '["x", "2"]')]
    assert store.commit("CA1", Scope(), "*", sealed) == WRITTEN
    assert isinstance(store.commit("CA1", Scope(), "*", sealed), Written)  # a replay: nothing new
    assert redis_client.xlen(keys.EVENTS) == 2
    assert {s.decode() for s in redis_client.smembers(keys.call_steps("CA1"))} == {"s1", "s2"}
    assert store.has_step("CA1", "s2") and not store.has_step("CA1", "s3")
    assert not store.has_step("CA2", "s1")


def test_a_stale_commit_writes_nothing_and_returns_the_view_to_decide_on(store, redis_server, redis_client):
    publish(redis_server.url)
    first = store.commit("CA1", Scope(number=SUPPORT), "", [("s1", '["x", "1"]')])
    assert isinstance(first, Stale) and first.view.number is not None
    assert first.view.number.flow in first.view.versions
    assert redis_client.xlen(keys.EVENTS) == 0
    again = store.commit("CA1", Scope(number=SUPPORT), first.view.digest, [("s1", '["x", "1"]')])
    assert again == WRITTEN and redis_client.xlen(keys.EVENTS) == 1
    assert store.view(Scope(number=SUPPORT)) == first.view  # remembered for the next webhook


def test_entries_are_one_sealed_event_then_the_chain_links(store, redis_client):
    bodies = ['["x", "1"]', '["x", "2"]', '["y", "3"]']
    store.commit("CA1", Scope(), "*", [("s1", bodies[0]), ("s2", bodies[1])])
    store.commit("CA2", Scope(), "*", [("s1", bodies[2])])
    rows = redis_client.xrange(keys.EVENTS)
    prev = ""
    for (_, raw), body in zip(rows, bodies, strict=True):
        assert list(raw) == [b"event", b"prev", b"hash"]
        assert raw[b"event"].decode() == body and raw[b"prev"].decode() == prev
        prev = evidence.link(prev, body)
        assert raw[b"hash"].decode() == prev
    assert store.chain_head() == prev
    ids = [i.decode() for i, _ in rows]
    assert [i.decode() for i in redis_client.lrange(keys.call_entries("CA1"), 0, -1)] == ids[:2]
    assert [i.decode() for i in redis_client.lrange(keys.call_entries("CA2"), 0, -1)] == ids[2:]


def test_a_calls_own_keys_expire_after_twilios_longest_call(store, redis_client):
    store.commit("CA1", Scope(), "*", [("s1", '["x", "1"]')])
    for name in (keys.call_steps("CA1"), keys.call_entries("CA1")):
        assert 24 * 3600 < redis_client.ttl(name) <= CALL_TTL, name
    assert redis_client.ttl(keys.EVENTS) == -1  # the evidence itself never expires


def test_a_commit_to_a_redis_that_is_gone_raises_store_unavailable():
    store = Store(connect("redis://127.0.0.1:1", timeout=0.2))
    with pytest.raises(StoreUnavailable):
        store.commit("CA1", Scope(), "*", [("s1", '["x", "1"]')])


def test_waits_are_kept_once_per_call_newest_first_and_only_the_recent_ones(store, redis_client):
    for n in range(RECENT + 5):
        store.record_wait("manila", f"CA{n}", 60 + n, at=1e9 + n)
    newest = RECENT + 4
    store.record_wait("manila", f"CA{newest}", 60 + newest, at=2e9)  # a replay keeps the first
    waits = store.recent_waits("manila")
    assert len(waits) == RECENT == redis_client.zcard(keys.queue_waits("manila"))
    assert waits[0] == (1e9 + newest, 60 + newest)
    assert [at for at, _ in waits] == sorted((at for at, _ in waits), reverse=True)
    assert store.recent_waits("lisbon") == []


def test_published_reads_the_live_configuration(store, redis_server, redis_client):
    live = publish(redis_server.url)
    config = store.published()
    assert {f: flow.version for f, flow in config.flows.items()} == live
    assert set(config.numbers) == {k.decode() for k in redis_client.hkeys(keys.NUMBERS)}
    assert (
        set(config.centers) == set(store.centers()) == {k.decode() for k in redis_client.hkeys(keys.CENTERS)}
    )
    assert json.loads(redis_client.hget(keys.NUMBERS, SUPPORT))["flow"] in config.flows
