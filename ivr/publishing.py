"""Publishing the configuration: numbers, centers, flows and the [policy] written
atomically (``publish``), an earlier flow version made live again (``rollback``), every
version with who published it and when, the configuration log and the fallback build's
mark. ``Publishing`` is one of the parts ``ivr.store.Store`` is made of: it needs only
``client``; a webhook never publishes.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from redis.exceptions import WatchError

from ivr import keys, rulesets
from ivr.errors import RemovalRefused, StoreUnavailable
from ivr.flow import Policy
from ivr.flowfile import Problems, Sources, parse_flow, parse_policy

__all__ = ["Publishing", "parse_live", "publisher"]

T = TypeVar("T")


class Publishing:
    """Publish, roll back and read what was published, with its history."""

    client: Any  # redis-py's annotations cover sync and async; we are sync

    def publish(
        self, sources: Sources, by: str, message: str = "", allow_removal: Iterable[str] = ()
    ) -> dict[str, int]:
        """Publish centers, numbers and flows atomically; return each flow's live version.

        A flow whose content did not change keeps its version; a changed one gets the next
        number. Calls in progress keep reading the version in their URLs. A live number or
        center the sources lack is removed only when ``allow_removal`` names it: a truncated
        folder must not take numbers offline (raises RemovalRefused, nothing written).
        """
        allowed = set(allow_removal)

        def change(pipe: Any) -> dict[str, int]:
            dropped = [
                sorted(
                    k.decode()
                    for k in pipe.hkeys(name)
                    if k.decode() not in kept and k.decode() not in allowed
                )
                for name, kept in ((keys.NUMBERS, sources.numbers), (keys.CENTERS, sources.centers))
            ]
            if any(dropped):
                raise RemovalRefused(*dropped)
            found: dict[bytes, bytes] = pipe.hgetall(keys.FLOWS)
            current = {k.decode(): parse_live(v.decode())[0] for k, v in found.items()}
            live: dict[str, int] = {}
            docs: dict[str, str] = {}
            digests: dict[str, str] = {}
            for flow_id, (_, raw) in sorted(sources.flows.items()):
                digest = digests[flow_id] = _digest(raw)
                version = current.get(flow_id)
                if version is not None:
                    old = pipe.get(keys.flow_version(flow_id, version))
                    if old and json.loads(old).get("digest") == digest:
                        live[flow_id] = version
                        continue
                new_version = int(pipe.incr(keys.flow_seq(flow_id)))
                if version is not None and new_version <= version:
                    new_version = version + 1
                    pipe.set(keys.flow_seq(flow_id), new_version)
                live[flow_id] = new_version
                docs[flow_id] = _version_document("flow", raw, digest, by, message)
            policy = _policy_version(pipe, sources, by, message)
            pipe.multi()
            if policy is None:
                pipe.delete(keys.POLICY)
            else:
                version, doc = policy
                if doc:
                    pipe.set(keys.policy_version(version), doc)
                pipe.set(keys.POLICY, version)
            for flow_id, doc in docs.items():
                pipe.set(keys.flow_version(flow_id, live[flow_id]), doc)
                pipe.zadd(keys.flow_versions(flow_id), {str(live[flow_id]): live[flow_id]})
            pipe.delete(keys.CENTERS, keys.NUMBERS, keys.FLOWS, keys.FLOWS_REACH)
            if sources.centers:
                pipe.hset(
                    keys.CENTERS,
                    mapping={c: json.dumps(raw, sort_keys=True) for c, (_, raw) in sources.centers.items()},
                )
            if sources.numbers:
                # each number as published names the rule sets its calls follow (its own, else
                # the policy's, else the default): the webhooks read numbers, never the policy
                policy_rules = (sources.policy[1] if sources.policy else {}).get("rules")
                pipe.hset(
                    keys.NUMBERS,
                    mapping={
                        n: json.dumps(rulesets.stamped(raw, policy_rules), sort_keys=True)
                        for n, (_, raw) in sources.numbers.items()
                    },
                )
            if live:
                pipe.hset(keys.FLOWS, mapping={f: f"{v}:{digests[f][:16]}" for f, v in live.items()})
                shared = {c for c, (_, raw) in sources.centers.items() if _shared(raw)}
                reach = {
                    f: r for f, (_, raw) in sources.flows.items() if (r := _reach(f, raw, shared)) is not None
                }
                if reach:
                    pipe.hset(keys.FLOWS_REACH, mapping=reach)
            pipe.xadd(
                keys.CONFIG_LOG,
                {
                    "action": "publish",
                    "by": by,
                    "message": message,
                    "flows": json.dumps(live, sort_keys=True),
                    "was": json.dumps(current, sort_keys=True),
                    "centers": str(len(sources.centers)),
                    "numbers": str(len(sources.numbers)),
                    "policy": str(policy[0]) if policy else "",
                },
            )
            pipe.execute()
            return live

        return self._watching_flows(change, "publish")

    # -- versions ---------------------------------------------------------------

    def live_version(self, flow_id: str) -> int | None:
        """The version new calls of a flow get."""
        value = self.client.hget(keys.FLOWS, flow_id)
        return parse_live(value.decode())[0] if value else None

    def versions(self, flow_id: str) -> list[dict[str, Any]]:
        """Every published version of a flow, oldest first, with who published it and when."""
        numbers = [int(v) for v in self.client.zrange(keys.flow_versions(flow_id), 0, -1)]
        if not numbers:
            return []
        docs = self.client.mget([keys.flow_version(flow_id, v) for v in numbers])
        live = self.live_version(flow_id)
        out = []
        for version, raw in zip(numbers, docs, strict=True):
            doc = json.loads(raw) if raw else {}
            out.append(
                {
                    "version": version,
                    "live": version == live,
                    **{k: doc.get(k, "") for k in ("published_at", "by", "message", "digest")},
                }
            )
        return out

    def flow_doc(self, flow_id: str, version: int) -> dict[str, Any] | None:
        """A published version as stored: the operator's table and its metadata."""
        raw = self.client.get(keys.flow_version(flow_id, version))
        return json.loads(raw) if raw else None

    def policy(self) -> Policy | None:
        """The [policy] published with the configuration now; None when none was."""
        version = self.client.get(keys.POLICY)
        raw = self.client.get(keys.policy_version(version.decode())) if version else None
        if not raw:
            return None
        problems = Problems(f"published policy v{version.decode()}")
        policy = parse_policy(json.loads(raw)["policy"], problems)
        return None if problems.fatal else policy

    def rollback(self, flow_id: str, version: int, by: str, message: str = "") -> int | None:
        """Make an earlier version live again, atomically; returns the version it replaced.
        Calls in progress keep their own version; the change is logged like a publish."""

        def change(pipe: Any) -> int | None:
            raw = pipe.get(keys.flow_version(flow_id, version))
            if not raw:
                raise StoreUnavailable(f"flow {flow_id} has no version {version}")
            was = pipe.hget(keys.FLOWS, flow_id)
            previous = parse_live(was.decode())[0] if was else None
            doc = json.loads(raw)
            centers = {c.decode(): json.loads(v) for c, v in pipe.hgetall(keys.CENTERS).items()}
            reach = _reach(flow_id, doc["flow"], {c for c, center in centers.items() if _shared(center)})
            pipe.multi()
            pipe.hset(keys.FLOWS, flow_id, f"{version}:{doc['digest'][:16]}")
            if reach is None:  # the script then checks every center
                pipe.hdel(keys.FLOWS_REACH, flow_id)
            else:
                pipe.hset(keys.FLOWS_REACH, flow_id, reach)
            pipe.xadd(
                keys.CONFIG_LOG,
                {
                    "action": "rollback",
                    "by": by,
                    "message": message,
                    "flows": json.dumps({flow_id: version}),
                    "was": json.dumps({flow_id: previous}),
                },
            )
            pipe.execute()
            return previous

        return self._watching_flows(change, "rollback")

    def _watching_flows(self, change: Callable[[Any], T], what: str) -> T:
        """Run ``change(pipe)`` with the configuration's hashes watched, again when another
        publish or rollback changed them first (20 times at most)."""
        for _ in range(20):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(keys.FLOWS, keys.NUMBERS, keys.CENTERS, keys.FLOWS_REACH)
                    return change(pipe)
                except WatchError:
                    continue
        raise StoreUnavailable(f"configuration kept changing during the {what}; try again")

    def record_fallback(self, digest: str, by: str, numbers: int) -> None:
        """Remember the digest of the fallback documents built from the published configuration."""
        self.client.hset(
            keys.CONFIG_FALLBACK,
            mapping={
                "digest": digest,
                "by": by,
                "numbers": str(numbers),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )

    def fallback_built(self) -> dict[str, str]:
        """The last fallback build recorded (digest, by, numbers, built_at); {} if none."""
        found = self.client.hgetall(keys.CONFIG_FALLBACK)
        return {k.decode(): v.decode() for k, v in found.items()}

    def config_log(self, count: int = 50) -> list[dict[str, str]]:
        """The newest configuration changes first: who, when, what."""
        rows = self.client.xrevrange(keys.CONFIG_LOG, count=count)
        return [{"id": i.decode(), **{k.decode(): v.decode() for k, v in f.items()}} for i, f in rows]


def parse_live(value: str) -> tuple[int, str]:
    """A flows hash value "version:digest" (or a bare version) as (version, digest)."""
    version, _, content = value.partition(":")
    return int(version), content


def _policy_version(pipe: Any, sources: Sources, by: str, message: str) -> tuple[int, str] | None:
    """The version the folder's [policy] gets (the live one when unchanged) and, when it is
    new, its document to write; None when the folder has no policy."""
    if sources.policy is None:
        return None
    raw = sources.policy[1]
    digest = _digest(raw)
    live = pipe.get(keys.POLICY)
    if live:
        old = pipe.get(keys.policy_version(live.decode()))
        if old and json.loads(old).get("digest") == digest:
            return int(live), ""
    version = int(pipe.incr(keys.POLICY_SEQ))
    return version, _version_document("policy", raw, digest, by, message)


def _version_document(kind: str, raw: object, digest: str, by: str, message: str) -> str:
    """A published version as stored: the flow's or policy's table (under ``kind``), its
    digest, who published it, why, and when (UTC)."""
    return json.dumps(
        {
            kind: raw,
            "digest": digest,
            "by": by,
            "message": message,
            "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        sort_keys=True,
    )


def _reach(flow_id: str, raw: Mapping[str, Any], shared: set[str]) -> str | None:
    """The centers a flow's version can reach, one a line, as the commit script reads them;
    None when it does not parse, and "*" (every center) when it reaches a shared queue or
    workflow, whose sites are centers the disclosure at the bridge names (ivr.bind)."""
    problems = Problems(f"flow {flow_id}")
    try:
        flow = parse_flow(flow_id, raw, problems)
    except (ValueError, KeyError, TypeError):
        return None
    if problems.fatal:
        return None
    return "*" if shared & set(flow.reach) else "\n".join(flow.reach)


def _shared(center: Mapping[str, Any]) -> bool:
    """A center table whose connect lists sites."""
    connect = center.get("connect")
    return isinstance(connect, Mapping) and bool(connect.get("sites"))


def _digest(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


def publisher() -> str:
    """Who is publishing, for the configuration log: IVR_PUBLISHER, else the OS user."""
    try:
        user = getpass.getuser()  # LOGNAME, USER, ... then the password database
    except (OSError, KeyError):  # a uid without an entry (some containers)
        user = f"uid {os.getuid()}"
    return os.environ.get("IVR_PUBLISHER") or user
