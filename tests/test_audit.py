"""The evidence record: tampering is detected, exports come before pruning, the spool
replays in order without duplicates."""

from __future__ import annotations

import hmac
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ivr import anchors, audit, evidence, keys
from ivr.caller import Caller
from ivr.evidence import Keyring
from ivr.spool import Spool, Spooled, read
from ivr.store import Store, connect
from ivr.vocabulary import Event
from tests import records
from tests.conftest import HASH_KEY, SUPPORT

KEYS = Keyring("k1", HASH_KEY.encode())


_text = st.text(max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    common=st.lists(st.tuples(_text, _text), max_size=4),
    kid=_text,
    events=st.lists(st.tuples(_text, st.lists(st.tuples(_text, _text), max_size=3)), min_size=1, max_size=4),
)
@example(common=[], kid="k1", events=[("received", [])])  # no common fields at all
@example(common=[], kid="", events=[("", []), ("s", [("a", '"\\')])])
def test_sealing_a_webhooks_events_together_gives_each_events_own_seal(common, kid, events):
    # seal_all encodes the shared fields once; each body must still be exactly the JSON
    # array of its fields, kid and MAC, and the MAC must verify as audit verify checks it;
    # with any common fields, none included (the text was invalid JSON then)
    keyring = Keyring(kid, b"secret")
    shared = dict(common)
    evs = [Event(f"key{i}", step, tuple(fields)) for i, (step, fields) in enumerate(events)]
    for (key, body), event in zip(evidence.seal_all(keyring, shared, evs), evs, strict=True):
        flat = [p for pair in shared.items() for p in pair] + ["step", event.step]
        flat += [p for pair in event.fields for p in pair] + ["kid", kid]
        mac = hmac.new(b"secret", compact_json(flat).encode(), "sha256").hexdigest()
        assert key == event.key and body == compact_json([*flat, "mac", mac])
        assert json.loads(body) == [*flat, "mac", mac]
        assert evidence.mac_is_valid(keyring, [*flat, "mac", mac, "prev", "", "hash", ""])


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(st.text(), max_size=8),
    kid=st.text(max_size=4),
    mac=st.text(max_size=70),
    sign=st.booleans(),
)
@example(fields=[], kid="k1", mac="\x80", sign=False)  # a forged MAC that is not ASCII
def test_a_mac_checked_from_the_entrys_text_is_the_mac_checked_from_its_fields(fields, kid, mac, sign):
    # verify cuts the signed text from the entry's encoded body instead of encoding it again:
    # any fields and any MAC text (forged ones too) must give the same answer
    keyring = Keyring("k1", b"secret")
    signed = [*fields, "kid", kid]
    if sign:  # a genuine MAC under a known key id
        signed[-1] = "k1"
        mac = hmac.new(b"secret", compact_json(signed).encode(), "sha256").hexdigest()
    entry = [*signed, "mac", mac, "prev", "", "hash", ""]
    from_text = evidence.mac_is_valid(keyring, entry, evidence.body_of(entry))
    assert from_text == evidence.mac_is_valid(keyring, entry)
    expected = True if sign else None if kid != "k1" else False  # None: a key id not known here
    assert evidence.mac_is_valid(keyring, entry) is expected  # a forged MAC: False, never an exception


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(st.text(), max_size=8),
    kid=st.sampled_from(["k1", "k0", "", 'k"1', "é"]),
    mac=st.text(max_size=70),
    sign=st.booleans(),
    secret=st.sampled_from([b"secret", b"", b"k" * 64, b"long" * 40]),
)
def test_a_seal_checked_on_the_stored_text_agrees_with_the_field_by_field_check(
    fields, kid, mac, sign, secret
):
    # verify's fast check reads the stored text alone: it must say valid only where the
    # field-by-field check does, and say it for every seal as seal_all writes it (a field
    # or more before kid; any key length: RFC 2104 hashes keys longer than a block);
    # anything else goes the long way
    keys = Keyring("k1", secret, {"k0": b"old"})
    signed = [*fields, "kid", kid]
    if sign:  # a genuine MAC under the key id's own secret
        key = keys.secret_for(kid)
        key = b"unknown" if key is None else key
        mac = hmac.new(key, compact_json(signed).encode(), "sha256").hexdigest()
    entry = [*signed, "mac", mac, "prev", "", "hash", ""]
    text = evidence.body_of(entry)
    fast = evidence.SealCheck(keys).valid(text.encode())
    slow = evidence.mac_is_valid(keys, entry) is True
    assert fast == slow if fields else fast <= slow
    assert fast == (sign and keys.secret_for(kid) is not None and bool(fields))


def compact_json(items: list[str]) -> str:
    return json.dumps(items, separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.text()))
def test_events_are_encoded_exactly_as_json_dumps_encodes_them(items):
    # the sealed text is what the MAC and the chain hash cover: any text (quotes,
    # backslashes, control characters, non-ASCII, lone surrogates) must come out the same
    assert evidence._json(items) == compact_json(items)


@pytest.fixture
def store(redis_server, redis_client) -> Store:
    return Store(connect(redis_server.url, timeout=5))


@pytest.fixture
def record(phone, store):
    """A few real calls through the app, so the stream holds a real chain."""
    for press in ("", "1", "", "1"):
        phone.call(Caller(SUPPORT, press=press))
    return list(store.entries())


def record_days(record: list[tuple[str, list[str]]]) -> tuple[date, date]:
    """The UTC days the record's entries were appended on (their ids' milliseconds): the
    period that holds it even when the calls ran across midnight."""
    first, last = (
        datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC).date()
        for entry_id in (record[0][0], record[-1][0])
    )
    return first, last


def stored(flat: list[str]) -> dict[str, str]:
    """An entry ([name, value, ..., "prev", p, "hash", h]) in the layout the script appends."""
    return {"event": evidence.body_of(flat), "prev": flat[-3], "hash": flat[-1]}


def rewrite(redis_client, entry_id: str, fields: dict) -> None:
    """Replace an entry's stored fields, keeping its id, as someone with Redis access could:
    rebuild the stream with every other entry unchanged."""
    entries = redis_client.xrange(keys.EVENTS)
    redis_client.delete(keys.EVENTS)
    for eid, old in entries:
        redis_client.xadd(keys.EVENTS, fields if eid.decode() == entry_id else old, id=eid)


def test_untouched_record_is_intact(store, record):
    verdict = audit.verify(store, KEYS)
    assert verdict.intact, verdict
    assert verdict.entries == len(record) > 10


def test_entries_in_the_earlier_layout_read_the_same_and_keep_the_chain(store, redis_client, record):
    # before the one-field layout, an entry held the sealed event's own fields: a record
    # that mixes the two must read, verify and catch an edit the same way
    old_id, old = record[4]
    layout = dict(zip(old[::2], old[1::2], strict=True))
    rewrite(redis_client, old_id, layout)
    assert list(store.entries()) == record
    assert audit.verify(store, KEYS).intact
    assert [
        (f, status) for i, f, status in audit.call_record(store, KEYS, layout["call"]) if i == old_id
    ] == [(layout, "intact")]
    rewrite(redis_client, old_id, {**layout, "step": "forged"})
    assert audit.verify(store, KEYS).broken_at == old_id


def test_an_edited_event_is_detected(store, redis_client, record):
    target, flat = next((i, f) for i, f in record if "disclosed" in f)
    edited = list(flat)
    edited[flat.index("text") + 1] = "Your call will be answered by our team in Scranton."
    rewrite(redis_client, target, stored(edited))
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at == target
    assert "edited" in verdict.problem


def test_an_edited_event_with_a_recomputed_hash_fails_its_mac(store, redis_client, record):
    target_id, target = next((i, f) for i, f in record if "disclosed" in f)
    position = target.index("text") + 1
    forged = list(target)
    forged[position] = "Your call will be answered by our team in Scranton."
    forged[-1] = evidence.link(forged[-3], evidence.body_of(forged))
    rewrite(redis_client, target_id, stored(forged))
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at != ""  # the next entry no longer links, or the MAC fails
    assert audit.check_entry(KEYS, forged, target[-3]) == "its MAC is wrong: it was forged or edited"


def test_a_deleted_event_is_detected_at_the_next_one(store, redis_client, record):
    (gone, _), (after, _) = record[5], record[6]
    redis_client.xdel(keys.EVENTS, gone)
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at == after
    assert "deleted, inserted or moved" in verdict.problem


def test_deleting_the_last_event_is_detected(store, redis_client, record):
    redis_client.xdel(keys.EVENTS, record[-1][0])
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at == "end"


def test_two_swapped_events_are_detected(store, redis_client, record):
    (first, a), (second, b) = record[3], record[4]
    rewrite(redis_client, first, stored(b))
    rewrite(redis_client, second, stored(a))
    assert [f for _, f in list(store.entries())[3:5]] == [b, a]
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at == first


def test_a_wrong_key_fails_every_mac(store, record):
    verdict = audit.verify(store, Keyring("k1", b"not the key"))
    assert verdict.broken_at == record[0][0]
    assert "MAC" in verdict.problem


def test_old_key_ids_stay_readable_after_rotation(store, record):
    rotated = Keyring("k2", b"the new key", {"k1": HASH_KEY.encode()})
    assert audit.verify(store, rotated).intact


def test_call_record_lists_a_call_in_order_with_its_chain_status(store, record):
    call = dict(zip(record[0][1][::2], record[0][1][1::2], strict=True))["call"]
    entries = list(audit.call_record(store, KEYS, call))
    steps = [fields["step"] for _, fields, _ in entries]
    assert steps[0] == "received" and "bridged" in steps
    assert all(status == "intact" for _, _, status in entries)


def test_a_call_whose_own_keys_expired_is_still_found_in_the_stream(redis_client, store, record):
    # Twilio ends a call within 24 hours: its step set and entry ids go soon after
    # (test_store), the evidence stays in the stream and ivr audit call finds it
    call = dict(zip(record[0][1][::2], record[0][1][1::2], strict=True))["call"]
    assert redis_client.exists(keys.call_entries(call), keys.call_steps(call)) == 2
    before = list(audit.call_record(store, KEYS, call))
    redis_client.delete(keys.call_entries(call), keys.call_steps(call))
    assert list(audit.call_record(store, KEYS, call)) == before
    assert before and all(status == "intact" for _, _, status in before)


def test_prune_refuses_what_was_never_exported(store, record):
    removed, why = audit.prune(store, date(2100, 1, 1), 0, date(2100, 1, 1))
    assert removed == 0 and "never exported" in why
    assert len(list(store.entries())) == len(record)


def test_export_then_prune_keeps_the_rest_verifiable(store, redis_client, record, tmp_path):
    first, today = record_days(record)
    count, digest = audit.export(store, first, today, "jsonl", tmp_path / "day.jsonl")
    assert count == len(record) and len(digest) == 64
    assert (tmp_path / "day.jsonl").read_text().count("\n") == len(record)
    # the retention period protects young evidence even when exported
    assert audit.prune(store, today + timedelta(days=1), 30, today)[0] == 0
    removed, why = audit.prune(store, today + timedelta(days=1), 0, today + timedelta(days=1))
    assert (removed, why) == (len(record), "")
    assert list(store.entries()) == []
    assert audit.verify(store, KEYS).intact  # resumes from the pruned marker


def test_csv_export_has_a_column_per_field(store, record, tmp_path):
    import csv

    audit.export(store, *record_days(record), "csv", tmp_path / "day.csv")
    with (tmp_path / "day.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(record)
    assert {"id", "call", "step", "hash", "prev", "mac"} <= set(rows[0])


def test_spool_replays_in_order_without_duplicates(store, redis_client, tmp_path):
    spool = Spool(tmp_path)
    common = {"call": "CA1", "caller": "h", "at": "2026-11-28T10:00:00.000+00:00"}
    sealed = [
        evidence.seal(KEYS, common, ev)
        for ev in (
            evidence.Event("received", "received", (("number", SUPPORT),)),
            evidence.Event("disclosed:1", "disclosed", (("city", "Manila"),)),
            evidence.Event("offered:1", "offered", (("key", "1"),)),
        )
    ]
    spool.append(Spooled("CA1", k, b) for k, b in sealed)
    spool.append([Spooled("CA1", *sealed[1])])  # a retried webhook spooled the same step again
    assert [r.key for r in read(spool.path)] == ["received", "disclosed:1", "offered:1", "disclosed:1"]
    assert spool.replay(store.append) == 4
    assert spool.pending() == []
    steps = [dict(zip(f[::2], f[1::2], strict=True))["step"] for _, f in store.entries()]
    assert steps == ["received", "disclosed", "offered"]
    assert audit.verify(store, KEYS).intact
    assert Spool(tmp_path).replay(store.append) == 0


def test_a_torn_last_line_is_skipped(tmp_path):
    spool = Spool(tmp_path)
    spool.append([Spooled("CA1", "received", '["call","CA1"]')])
    with open(spool.path, "a") as f:
        f.write('{"call": "CA1", "key": "rout')
    assert [r.key for r in read(spool.path)] == ["received"]


def relink_without(store, redis_client, gone: str) -> None:
    """What someone with Redis access but without the key can do: delete an entry, then
    recompute every later link (and the head) so the chain looks whole again."""
    entries = list(store.entries())
    redis_client.delete(keys.EVENTS)
    prev = ""
    for eid, flat in entries:
        if eid == gone:
            continue
        flat[-3] = prev
        flat[-1] = prev = evidence.link(prev, evidence.body_of(flat))
        redis_client.xadd(keys.EVENTS, stored(flat), id=eid)
    redis_client.set(keys.CHAIN_HEAD, prev)


def test_a_relinked_deletion_passes_without_an_anchor(store, redis_client, record):
    relink_without(store, redis_client, record[3][0])
    assert audit.verify(store, KEYS).intact  # why anchors exist


def test_an_anchor_catches_a_relinked_deletion_before_it(store, redis_client, record, phone):
    taken, problem = audit.anchor(store, datetime.now(UTC))
    assert problem == "" and taken is not None and taken.count == len(record)
    phone.call(Caller(SUPPORT))  # the record goes on after the anchor
    assert audit.verify(store, KEYS).intact
    relink_without(store, redis_client, record[3][0])
    verdict = audit.verify(store, KEYS)
    assert verdict.broken_at == record[-1][0]
    assert "rewritten" in verdict.problem and taken.hash[:12] in verdict.problem


def test_an_anchor_adds_nothing_when_nothing_happened(store, record):
    assert audit.anchor(store, datetime.now(UTC))[0] is not None
    assert audit.anchor(store, datetime.now(UTC)) == (None, "")
    assert len(store.anchors()) == 1


def test_anchoring_raises_the_alarm_when_anchored_evidence_is_gone(store, redis_client, record, phone):
    audit.anchor(store, datetime.now(UTC))
    phone.call(Caller(SUPPORT))
    redis_client.xtrim(keys.EVENTS, minid=record[2][0], approximate=False)  # two
    taken, problem = audit.anchor(store, datetime.now(UTC))
    assert taken is None and f"starts at {record[2][0]}" in problem
    redis_client.xtrim(keys.EVENTS, maxlen=0, approximate=False)
    taken, problem = audit.anchor(store, datetime.now(UTC))
    assert taken is None and f"no longer holds entry {record[-1][0]}" in problem
    assert len(store.anchors()) == 1  # the tampered record is not anchored


def test_anchors_before_the_pruned_marker_stay_satisfied(store, redis_client, record, phone):
    audit.anchor(store, datetime.now(UTC))
    first, today = record_days(record)
    audit.export(store, first, today, "jsonl", Path("/dev/null"))
    tomorrow = today + timedelta(days=1)
    assert audit.prune(store, tomorrow, 0, tomorrow)[0] == len(record)
    phone.call(Caller(SUPPORT))
    taken, problem = audit.anchor(store, datetime.now(UTC))
    assert problem == "" and taken is not None and taken.count > len(record)
    verdict = audit.verify(store, KEYS)
    assert verdict.intact and verdict.anchors == 1, verdict  # the first one was pruned past


def test_the_local_anchor_log_holds_the_record_when_redis_lost_its_anchors(
    store, redis_client, record, tmp_path
):
    log = tmp_path / "anchors.jsonl"
    taken, _ = audit.anchor(store, datetime.now(UTC))
    assert taken is not None
    anchors.append(log, taken)
    redis_client.delete(keys.AUDIT_ANCHORS, keys.EVENTS)  # an admin, not the app
    redis_client.set(keys.CHAIN_HEAD, "")
    assert audit.verify(store, KEYS).intact  # Redis alone has nothing left to go on
    verdict = audit.verify(store, KEYS, anchors.read(log))
    assert verdict.broken_at == taken.last
    assert f"attests {len(record)} entries" in verdict.problem and "erased" in verdict.problem


def test_anchors_that_disagree_are_named(store, record, tmp_path):
    taken, _ = audit.anchor(store, datetime.now(UTC))
    assert taken is not None
    forged = anchors.Anchor(taken.at, taken.last, "0" * 40, taken.count)
    verdict = audit.verify(store, KEYS, [forged])
    assert verdict.broken_at == "anchors" and "disagree" in verdict.problem


def test_a_torn_last_anchor_line_is_skipped(tmp_path):
    log = tmp_path / "anchors.jsonl"
    anchors.append(log, anchors.Anchor("2026-12-01T00:00:00.000+00:00", "1-0", "ab", 3))
    with open(log, "a") as f:
        f.write('{"at": "2026-12-01T00:01')
    assert [a.last for a in anchors.read(log)] == ["1-0"]


def test_the_local_anchor_log_is_read_a_line_at_a_time(tmp_path):
    log = tmp_path / "anchors.jsonl"
    first = anchors.Anchor("2026-12-01T00:00:00.000+00:00", "1-0", "ab", 3)
    anchors.append(log, first)
    with open(log, "a") as f:
        f.write("not an anchor\n")
    anchors.append(log, anchors.Anchor("2026-12-01T00:05:00.000+00:00", "2-0", "cd", 4))
    lines = anchors.streamed(log)
    assert next(lines) == first  # what comes before a bad line is read before it is seen
    with pytest.raises(ValueError, match=r"anchors.jsonl:2: not an anchor line"):
        next(lines)
    with pytest.raises(ValueError, match=r"anchors.jsonl:2"):
        anchors.read(log)


def test_anchors_out_of_order_in_one_source_are_named(store, record):
    # each source holds its anchors in the order they were taken: verify merges them one
    # at a time, so a source whose anchors go back in the record was altered
    early = anchors.Anchor("2026-12-01T00:00:00.000+00:00", record[2][0], record[2][1][-1], 3)
    late = anchors.Anchor("2026-12-01T00:05:00.000+00:00", record[5][0], record[5][1][-1], 6)
    assert audit.verify(store, KEYS, [early, late]).anchors == 2
    verdict = audit.verify(store, KEYS, [late, early])
    assert verdict.broken_at == "anchors" and "out of order" in verdict.problem, verdict


def test_an_anchor_the_webhooks_appended_to_the_stream_is_checked_the_long_way(store, redis_client, record):
    # records from before ivr.anchors hold anchors in the stream itself, attesting the
    # head: verify's check on the stored text leaves them to the field-by-field check
    head = store.chain_head()
    at = datetime.now(UTC) + timedelta(seconds=5)

    def in_stream(attested: str, when: datetime) -> dict[str, str]:
        stamp = when.isoformat(timespec="milliseconds")
        return {"call": "anchor", "caller": "", "at": stamp, "step": "anchor", "head": attested}

    new_head = records.append(redis_client, KEYS, [in_stream(head, at)], prev=head)
    assert audit.verify(store, KEYS).intact
    records.append(redis_client, KEYS, [in_stream("f" * 40, at + timedelta(seconds=1))], prev=new_head)
    verdict = audit.verify(store, KEYS)
    assert verdict.entries == len(record) + 2 and "attests the chain head ffffffffffff" in verdict.problem


def test_a_read_of_the_record_stopped_midway_leaves_the_store_readable(store, record):
    # the next batch is asked for before this one is used: a reader that stops early
    # leaves a reply on the way, and its connection must not serve the next read
    for stop in (1, 3, 4, 7):
        rows = store.stored(batch=3)
        assert [i for i, _ in itertools.islice(rows, stop)] == [i for i, _ in record[:stop]]
        rows.close()
        assert [(i, evidence.unpack(f)) for i, f in store.stored(batch=3)] == record
    assert [(i, f) for i, f in store.entries(batch=len(record))] == record  # one full batch, then none


def test_anchors_are_read_a_batch_at_a_time_and_the_newest_alone(store, record):
    assert store.last_anchor() is None and list(store.each_anchor()) == []
    taken = [
        anchors.Anchor(f"2026-12-01T00:0{n}:00.000+00:00", i, f[-1], n) for n, (i, f) in enumerate(record, 1)
    ]
    for anchor in taken[:7]:
        store.add_anchor(anchor)
    assert list(store.each_anchor(batch=2)) == store.anchors() == taken[:7]
    assert list(store.each_anchor(batch=7)) == taken[:7]
    assert store.last_anchor() == taken[6]


def test_a_local_anchor_log_with_a_bad_line_is_named_when_verify_reaches_it(store, record, tmp_path):
    log = tmp_path / "anchors.jsonl"
    anchors.append(log, anchors.Anchor("2026-12-01T00:00:00.000+00:00", record[2][0], record[2][1][-1], 3))
    assert audit.verify(store, KEYS, log).anchors == 1  # by its path: read as verify goes
    with open(log, "a") as f:
        f.write("not an anchor\n")
    anchors.append(log, anchors.Anchor("2026-12-01T00:05:00.000+00:00", record[5][0], record[5][1][-1], 6))
    verdict = audit.verify(store, KEYS, log)
    assert verdict.broken_at == "anchors" and "anchors.jsonl:2: not an anchor line" in verdict.problem, (
        verdict
    )
