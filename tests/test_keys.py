"""The Redis keys, byte for byte. ``deploy/users.acl`` grants each user its keys by pattern,
the commit script is handed them and existing data lives under them, so no key's string may
change: this file alone spells them out, every other test builds them with ``ivr.keys``."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from ivr import keys

ACL = Path(__file__).resolve().parent.parent / "deploy" / "users.acl"

SPELLED = [
    (keys.NUMBERS, "onshore:numbers"),
    (keys.CENTERS, "onshore:centers"),
    (keys.FLOWS, "onshore:flows"),
    (keys.FLOWS_REACH, "onshore:flows:reach"),
    (keys.POLICY, "onshore:policy"),
    (keys.POLICY_SEQ, "onshore:policy:seq"),
    (keys.CONFIG_LOG, "onshore:config:log"),
    (keys.CONFIG_FALLBACK, "onshore:config:fallback"),
    (keys.EVENTS, "onshore:events"),
    (keys.CHAIN_HEAD, "onshore:chain:head"),
    (keys.AUDIT_EXPORTED, "onshore:audit:exported"),
    (keys.AUDIT_PRUNED, "onshore:audit:pruned"),
    (keys.AUDIT_ANCHORS, "onshore:audit:anchors"),
    (keys.flow_version("support", 3), "onshore:flow:support:3"),
    (keys.flow_version("support", "3"), "onshore:flow:support:3"),
    (keys.flow_seq("support"), "onshore:flow:support:seq"),
    (keys.flow_versions("support"), "onshore:flow:support:versions"),
    (keys.policy_version(2), "onshore:policy:2"),
    (keys.call_steps("CA1"), "onshore:call:CA1:steps"),
    (keys.call_entries("CA1"), "onshore:call:CA1:entries"),
    (keys.call_task("CA1"), "onshore:call:CA1:task"),
    (keys.call_dial("CA1", "WR1"), "onshore:call:CA1:dial:WR1"),
    (keys.queue_waits("manila"), "onshore:queue:manila:waits"),
    (keys.CALLBACKS_OPEN, "onshore:callbacks:open"),
    (keys.CALLBACKS_LOCK, "onshore:callbacks:dispatching"),
    (keys.callback("cb1"), "onshore:callback:cb1"),
    (keys.callback_caller("h1"), "onshore:callbacks:caller:h1"),
    (keys.domestic_line("us"), "onshore:domestic:us:line"),
    (keys.domestic_hold("us", "CA1"), "onshore:domestic:us:hold:CA1"),
    (keys.key("x"), "onshore:x"),
]


@pytest.mark.parametrize(("built", "spelled"), SPELLED)
def test_every_key_is_spelled_as_deployed(built, spelled):
    assert built == spelled


def patterns(user: str) -> list[str]:
    """The key patterns (read-write ``~`` and read-only ``%R~``) users.acl gives a user."""
    for line in ACL.read_text().splitlines():
        words = line.replace("(", " ").replace(")", " ").split()
        if words[:2] == ["user", user]:
            return [w.partition("~")[2] for w in words if w.startswith(("~", "%R~"))]
    raise AssertionError(f"{ACL} has no user {user}")


# The keys each user must reach: the app's webhooks (the commit script's keys, the flow
# versions they read, the queue waits, callbacks and domestic lines), the operator's tools,
# the auditor's and the callback worker's.
APP = [
    keys.EVENTS,
    keys.call_steps("CA1"),
    keys.NUMBERS,
    keys.FLOWS,
    keys.CENTERS,
    keys.CHAIN_HEAD,
    keys.call_entries("CA1"),
    keys.FLOWS_REACH,
    keys.flow_version("support", 1),
    keys.queue_waits("manila"),
    keys.call_task("CA1"),
    keys.call_dial("CA1", "WR1"),
    keys.CALLBACKS_OPEN,
    keys.callback("cb1"),
    keys.callback_caller("h1"),
    keys.domestic_line("us"),
    keys.domestic_hold("us", "CA1"),
]
WORKER = [
    keys.CALLBACKS_OPEN,
    keys.CALLBACKS_LOCK,
    keys.callback("cb1"),
    keys.callback_caller("h1"),
    keys.domestic_line("us"),
    keys.domestic_hold("us", "CA1"),
]
OPERATOR = [
    keys.NUMBERS,
    keys.CENTERS,
    keys.FLOWS,
    keys.FLOWS_REACH,
    keys.flow_version("support", 1),
    keys.flow_seq("support"),
    keys.flow_versions("support"),
    keys.POLICY,
    keys.POLICY_SEQ,
    keys.policy_version(1),
    keys.CONFIG_LOG,
    keys.CONFIG_FALLBACK,
    keys.EVENTS,
    keys.CHAIN_HEAD,
    keys.call_steps("CA1"),
    keys.call_entries("CA1"),
    keys.AUDIT_EXPORTED,
    keys.AUDIT_PRUNED,
    keys.AUDIT_ANCHORS,
]
AUDITOR = [
    keys.EVENTS,
    keys.CHAIN_HEAD,
    keys.call_entries("CA1"),
    keys.AUDIT_EXPORTED,
    keys.AUDIT_PRUNED,
    keys.AUDIT_ANCHORS,
]


@pytest.mark.parametrize(
    ("user", "key"),
    [("onshore-app", k) for k in APP]
    + [("onshore-operator", k) for k in OPERATOR]
    + [("onshore-auditor", k) for k in AUDITOR]
    + [("onshore-worker", k) for k in WORKER],
)
def test_each_users_keys_fall_under_its_acl_patterns(user, key):
    found = patterns(user)
    assert any(fnmatchcase(key, p) for p in found), f"{key} matches none of {user}'s {found}"


def test_the_app_reaches_no_configuration_log_policy_or_audit_key():
    found = patterns("onshore-app")
    for key in (keys.CONFIG_LOG, keys.POLICY, keys.AUDIT_ANCHORS, keys.AUDIT_PRUNED, keys.AUDIT_EXPORTED):
        assert not any(fnmatchcase(key, p) for p in found), key
