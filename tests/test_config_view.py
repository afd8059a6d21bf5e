"""The commit script's freshness check, against a real redis-server: it reads only the
objects a webhook's decision rests on (the number, its flow's live version, the centers
that flow can reach), refuses a stale worker's commit returning just those, and a publish
is heard on the very next call."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr import create_app, engine, keys, twiml
from ivr.caller import Caller, Phone
from ivr.check import check_folder
from ivr.store import EMPTY, WRITTEN, Committed, Scope, Stale, Store, View, connect
from ivr.vocabulary import Facts
from tests import companies
from tests.conftest import HASH_KEY, TOKEN, flask_transport

E2E = Path(__file__).resolve().parent / "e2e_flows"
SUPPORT = "+18005550101"  # the e2e support line: Manila first, Bangalore on overflow


def publish(url: str, folder: Path) -> dict[str, int]:
    _, sources, errors = check_folder(folder, "US")
    assert not errors, errors
    return Store(connect(url, timeout=5)).publish(sources, by="tests")


def e2e_with(tmp: Path, old: str, new: str) -> Path:
    """The e2e flows with one text of centers.toml replaced."""
    folder = tmp / f"flows-{hashlib.sha1(new.encode()).hexdigest()[:8]}"
    shutil.copytree(E2E, folder)
    centers = folder / "centers.toml"
    text = centers.read_text()
    assert old in text
    centers.write_text(text.replace(old, new))
    return folder


def refused(committed: Committed) -> View:
    """The view a refused commit returned; fails the test when the commit was written."""
    assert isinstance(committed, Stale), committed
    return committed.view


class Recording(Store):
    """A store that keeps every reply of the commit script."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.replies: list = []

    def _on_line(self, *command):
        reply = super()._on_line(*command)
        if command[0] == "EVALSHA":
            self.replies.append(reply)
        return reply


def test_a_changed_center_is_heard_on_the_very_next_call(tmp_path, redis_server, redis_client):
    publish(redis_server.url, E2E)
    app = create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_server.url,
            "spool_dir": str(tmp_path / "spool"),
        }
    )
    phone = Phone("http://localhost", TOKEN, flask_transport(app.test_client()))
    for _ in range(2):  # the worker has served calls: its view of the number is warm
        heard = " ".join(phone.call(Caller(SUPPORT, outcomes=["completed"])).heard)
        assert "Manila, the Philippines" in heard

    publish(redis_server.url, e2e_with(tmp_path, 'city = "Manila"', 'city = "Cebu"'))

    heard = " ".join(phone.call(Caller(SUPPORT, outcomes=["completed"])).heard)
    assert "Cebu, the Philippines" in heard and "Manila" not in heard


def test_a_stale_commit_is_refused_with_only_the_objects_it_rests_on(tmp_path, redis_server, redis_client):
    publish(redis_server.url, E2E)
    store = Recording(connect(redis_server.url, timeout=5))
    scope = Scope(number=SUPPORT)
    view = refused(store.commit("CA1", scope, "", []))  # a first webhook: nothing known yet
    reach = store.flow("support", view.versions["support"]).reach
    assert "manila" in reach and "lisbon" not in reach
    assert store.commit("CA1", scope, view.digest, [("s1", '["x", "1"]')]) == WRITTEN

    # a center the support flow cannot reach changes: the commit is not refused
    publish(redis_server.url, e2e_with(tmp_path, 'city = "Lisbon"', 'city = "Porto"'))
    assert store.commit("CA2", scope, view.digest, [("s1", '["x", "2"]')]) == WRITTEN

    # one it reaches changes: refused, and the reply holds the number, its flow's live
    # version and the centers that flow reaches, nothing else
    publish(redis_server.url, e2e_with(tmp_path, 'city = "Manila"', 'city = "Cebu"'))
    store.replies.clear()
    fresh = refused(store.commit("CA3", scope, view.digest, [("s1", '["x", "3"]')]))
    status, digest, number, flow, live, centers, _ = store.replies[-1]
    assert status == 0 and fresh.digest == digest.decode()
    assert json.loads(number)["flow"] == "support" and flow == b"support"
    assert live == redis_client.hget(keys.FLOWS, "support")
    assert [c.decode() for c in centers[::2]] == list(reach)
    assert json.loads(dict(zip(centers[::2], centers[1::2], strict=True))[b"manila"])["city"] == "Cebu"
    assert fresh.centers["manila"].city == "Cebu" and set(fresh.centers) == set(reach)
    assert redis_client.xlen(keys.EVENTS) == 2  # the refused commit wrote nothing

    # the retry on what was returned is written
    assert store.commit("CA3", scope, fresh.digest, [("s1", '["x", "3"]')]) == WRITTEN
    assert redis_client.xlen(keys.EVENTS) == 3


def test_a_later_step_is_checked_against_its_own_flow_versions_centers(tmp_path, redis_server, redis_client):
    live = publish(redis_server.url, E2E)
    store = Recording(connect(redis_server.url, timeout=5))
    scope = Scope(flow="roving", version=live["roving"])
    view = refused(store.commit("CA1", scope, "", []))
    assert set(view.centers) == {"lisbon", "austin"}
    publish(redis_server.url, e2e_with(tmp_path, 'city = "Manila"', 'city = "Cebu"'))
    assert store.commit("CA1", scope, view.digest, []) == WRITTEN
    publish(redis_server.url, e2e_with(tmp_path, 'city = "Lisbon"', 'city = "Porto"'))
    store.replies.clear()
    fresh = refused(store.commit("CA1", scope, view.digest, []))
    assert fresh.centers["lisbon"].city == "Porto"
    assert [c.decode() for c in store.replies[-1][5][::2]] == ["austin", "lisbon"]


# -- the new check against the old digest, on random publish sequences ------------------

CITIES = ("Manila", "Cebu", "Davao")
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def folder(tmp: Path, state: dict) -> Path:
    """A small configuration: four offshore centers, a domestic one, two flows, three numbers."""
    out = tmp / f"state-{hashlib.sha1(json.dumps(state, sort_keys=True).encode()).hexdigest()}"
    if out.exists():
        return out
    out.mkdir()
    text = [companies.HOME]
    text += [companies.center(f"c{i}", city) for i, city in enumerate(state["cities"])]
    text += [companies.number(f"+1800555020{n}", f"f{flow}") for n, flow in enumerate(state["numbers"])]
    text += [
        companies.flow(f"f{f}", (f"c{c}" for c in route), word)
        for f, (route, word) in enumerate(zip(state["routes"], state["words"], strict=True))
    ]
    (out / "all.toml").write_text("\n".join(text))
    return out


routes = st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True)
states = st.fixed_dictionaries(
    {
        "cities": st.lists(st.sampled_from(CITIES), min_size=4, max_size=4),
        "numbers": st.lists(st.integers(0, 1), min_size=3, max_size=3),
        "routes": st.lists(routes, min_size=2, max_size=2),
        "words": st.lists(st.sampled_from(("team", "agents")), min_size=2, max_size=2),
    }
)


def whole(client, scope: Scope) -> tuple:
    """What the old digest covered: every flow's live version, every center, the number."""
    return (
        client.hgetall(keys.FLOWS),
        client.hgetall(keys.CENTERS),
        client.hget(keys.NUMBERS, scope.number),
    )


def first_turn(flow, number, centers) -> tuple:
    facts = Facts("CA1", NOW, centers, "US", number.exempt, True, number.language)
    turn = engine.begin(flow, facts)
    return twiml.render(tuple(turn.actions)), list(turn.events)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=states, changes=st.lists(states, min_size=1, max_size=4))
def test_the_freshness_check_agrees_with_the_old_digest(tmp_path, redis_server, redis_client, first, changes):
    redis_client.flushall()
    url = redis_server.url
    publish(url, folder(tmp_path, first))
    worker = Store(connect(url, timeout=5))
    scopes = [Scope(number=f"+1800555020{n}") for n in range(3)]
    views = {s: refused(worker.commit("CA0", s, "", [])) for s in scopes}
    was = {s: whole(redis_client, s) for s in scopes}
    for state in changes:
        publish(url, folder(tmp_path, state))
        now = Store(connect(url, timeout=5)).published()
        for scope in scopes:
            old_fresh = whole(redis_client, scope) == was[scope]
            committed = Store(connect(url, timeout=5)).commit("CA1", scope, views[scope].digest, [])
            if old_fresh:  # never refused where the old digest accepted
                assert committed == WRITTEN
            view = views[scope]
            flow_then = worker.flow(view.number.flow, view.versions[view.number.flow])
            number_now = now.numbers[scope.number]
            flow_now = now.flows[number_now.flow]
            rests_on_same = (
                number_now == view.number
                and flow_now.version == flow_then.version
                and {c: now.centers.get(c) for c in flow_now.reach}
                == {c: view.centers.get(c) for c in flow_then.reach}
            )
            assert (committed == WRITTEN) == rests_on_same
            if committed == WRITTEN:  # accepted: the decision is the one the whole configuration gives
                assert first_turn(flow_then, view.number, view.centers) == first_turn(
                    flow_now, number_now, now.centers
                )
            else:  # refused: the reply is what a process reading everything would decide on
                stale = refused(committed)
                assert stale.number == number_now and set(stale.centers) == set(flow_now.reach)
                assert first_turn(flow_now, stale.number, stale.centers) == first_turn(
                    flow_now, number_now, now.centers
                )
    assert views[scopes[0]] is not EMPTY


def test_the_fallback_sweep_reads_every_number_a_chunk_at_a_time(tmp_path, redis_server, redis_client):
    state = {
        "cities": list(CITIES) + ["Cebu"],
        "numbers": [0, 1, 0],
        "routes": [[0], [1, 2]],
        "words": ["team", "agents"],
    }
    publish(redis_server.url, folder(tmp_path, state))
    redis_client.hset(
        keys.NUMBERS,
        mapping={  # more than one chunk of the scan
            f"+1800555{3000 + n}": json.dumps({"flow": "f1"}) for n in range(3000)
        },
    )
    store = Store(connect(redis_server.url, timeout=5))
    assert store.fallback("+18005553999").number is None  # never answered, not yet read
    steps = 1
    while not store.read_for_fallback(count=500):
        steps += 1
    assert steps > 2 and len(store.memory.raw_numbers) == 3003
    view = store.fallback("+18005553999")  # as if Redis were down now
    assert view.number is not None and view.number.flow == "f1"
    assert store.remembered_flow("f1", view.versions["f1"]) is not None
    assert set(view.centers) == {"home", "c0", "c1", "c2", "c3"}


def test_a_flow_published_before_reach_existed_is_checked_against_every_center(redis_server, redis_client):
    publish(redis_server.url, E2E)
    redis_client.delete(keys.FLOWS_REACH)  # as Redis is after an upgrade, before a load
    store = Recording(connect(redis_server.url, timeout=5))
    view = refused(store.commit("CA1", Scope(number=SUPPORT), "", []))
    every = sorted(c.decode() for c in redis_client.hkeys(keys.CENTERS))
    assert [c.decode() for c in store.replies[-1][5][::2]] == every
    assert set(view.centers) == set(every)
    redis_client.hset(keys.CENTERS, "lisbon", redis_client.hget(keys.CENTERS, "dublin"))
    assert isinstance(store.commit("CA1", Scope(number=SUPPORT), view.digest, []), Stale)  # heard


def test_memory_learns_in_place_only_what_a_refused_commit_named():
    """The fallback's memory merges one refused commit's objects into its own dicts: the
    centers named are replaced or (gone from Redis) forgotten, the others stay; the empty
    view every scope starts from is never touched."""
    from ivr.center_tables import parse_center
    from ivr.config_view import EMPTY as EMPTY_VIEW
    from ivr.config_view import Memory
    from ivr.table_fields import Problems

    def center(cid: str, city: str):
        raw = {"city": city, "country": "PH", "timezone": "Asia/Manila", "hours": "24/7"}
        return parse_center(cid, {**raw, "connect": {"queue": f"q-{cid}"}}, Problems("test"))

    memory = Memory()
    memory.merge({"f": 1}, {c: center(c, "Manila") for c in ("a", "b", "c")})
    centers = memory.centers
    memory.learn(View("d1", None, {"f": 2}, {"a": center("a", "Cebu")}), ["a", "b"])
    assert memory.centers is centers  # in place: no copy of every center per refused commit
    assert sorted(memory.centers) == ["a", "c"]  # b, named and not sent back, is gone
    assert memory.centers["a"].city == "Cebu" and memory.centers["c"].city == "Manila"
    assert memory.latest.versions == {"f": 2} and memory.latest.centers is centers
    assert EMPTY_VIEW.centers == {} and EMPTY_VIEW.versions == {}
