"""Every Redis key Onshore uses, built in one place (the app, the tools and the tests).

The strings are part of the deployment: ``deploy/users.acl`` grants each user its keys by
pattern, the commit script (``ivr.store``) is handed them, and existing data lives under
them; change none of them. Layout (every key starts with the prefix):

    numbers            hash  E.164 -> number JSON
    centers            hash  center id -> center JSON
    flows              hash  flow id -> "version:digest" of the live version
    flows:reach        hash  flow id -> the centers its live version can reach, one a line
    flow:ID:VERSION    string  flow JSON, immutable once written
    flow:ID:seq        counter of versions
    flow:ID:versions   sorted set  every published version of a flow
    events             stream  per-call evidence, one entry per (CallSid, step), never trimmed
    chain:head         string  hash of the last entry appended (the chain's end)
    audit:exported     stream  exported ranges (first id, last id, entries, sha256 of the file)
    audit:pruned       hash  last id, hash and count pruned, where verification resumes
    audit:anchors      stream  high-water marks (count, last id, hash), the auditor's only
    call:SID:steps     set  steps already recorded for a call (idempotency), expires
    call:SID:entries   list  ids of the call's entries in the events stream, expires
    call:SID:task      string  the TaskRouter Task a caller waits on at a reservation
                       ("workspace task reservation"; ivr.pending_tasks), expires
    call:SID:dial:RR   string  the claim of reservation RR's call instruction (one per
                       reservation, whatever replays), expires
    policy             string  the live version of the folder's [policy]; absent: none
    policy:VERSION     string  a published [policy] JSON, immutable once written
    policy:seq         counter of policy versions
    config:log         stream  every configuration change: publish or rollback, who, when
    config:fallback    hash  the last `ivr fallback build --redis-url`: digest, by, when
    domestic:ID:line   sorted set  the line of domestic destination ID: "live:CallSid" (on
                       hold for it) and "cb:ID" (a callback), scored by when they asked
    domestic:ID:hold:SID  string  a live caller's place-keeping lease, renewed on hold
    callback:ID        hash  one callback (ivr.callbacks.Callback); its number deleted on close
    callbacks:open     sorted set  open callback ids by request time (the dispatcher's list)
    callbacks:caller:HASH  string  a caller's open callback id (by keyed caller hash)
    callbacks:dispatching  string  the callback dispatcher's lock (one at a time)
    voicemail:done     hash  recording SID -> when an operator marked the voicemail done
    queue:ID:waits     sorted set  "CallSid:seconds" waited in center ID's queue before an
                       agent answered, scored by when the bridge ended; the newest RECENT
"""

from __future__ import annotations

PREFIX = "onshore:"


def key(*parts: str) -> str:
    """The Redis key for these parts, with the one prefix."""
    return PREFIX + ":".join(parts)


# The configuration as published: what a webhook reads and a publish replaces.
NUMBERS = key("numbers")
CENTERS = key("centers")
FLOWS = key("flows")
FLOWS_REACH = key("flows", "reach")
POLICY = key("policy")
POLICY_SEQ = key("policy", "seq")
CONFIG_LOG = key("config", "log")
CONFIG_FALLBACK = key("config", "fallback")

# The evidence record.
EVENTS = key("events")
CHAIN_HEAD = key("chain", "head")
AUDIT_EXPORTED = key("audit", "exported")
AUDIT_PRUNED = key("audit", "pruned")
AUDIT_ANCHORS = key("audit", "anchors")


def flow_version(flow_id: str, version: int | str) -> str:
    """One published version of a flow (immutable once written)."""
    return key("flow", flow_id, str(version))


def flow_seq(flow_id: str) -> str:
    """The counter a flow's next version number comes from."""
    return key("flow", flow_id, "seq")


def flow_versions(flow_id: str) -> str:
    """The sorted set of every version of a flow published."""
    return key("flow", flow_id, "versions")


def policy_version(version: int | str) -> str:
    """One published [policy] (immutable once written)."""
    return key("policy", str(version))


def call_steps(call_sid: str) -> str:
    """The steps already recorded for a call (its idempotency set)."""
    return key("call", call_sid, "steps")


def call_entries(call_sid: str) -> str:
    """The ids of a call's entries in the events stream, in order."""
    return key("call", call_sid, "entries")


def call_task(call_sid: str) -> str:
    """The TaskRouter Task a caller waits on at a reservation, while Onshore holds it."""
    return key("call", call_sid, "task")


def call_dial(call_sid: str, reservation: str) -> str:
    """The claim that a reservation's worker was asked for once (ivr.pending_tasks)."""
    return key("call", call_sid, "dial", reservation)


def queue_waits(center: str) -> str:
    """How long recent callers waited in a center's queue."""
    return key("queue", center, "waits")


# Callbacks and the domestic lines (ivr.callback_store).
CALLBACKS_OPEN = key("callbacks", "open")
CALLBACKS_LOCK = key("callbacks", "dispatching")
VOICEMAIL_DONE = key("voicemail", "done")  # recording SID -> when and by whom it was dealt with


def domestic_line(center: str) -> str:
    """The line of a domestic destination: live callers on hold and callbacks, by time asked."""
    return key("domestic", center, "line")


def domestic_hold(center: str, call_sid: str) -> str:
    """A live caller's lease in a domestic line, renewed by each hold request."""
    return key("domestic", center, "hold", call_sid)


def callback(callback_id: str) -> str:
    """One callback's fields."""
    return key("callback", callback_id)


def callback_caller(caller: str) -> str:
    """A caller's open callback (by keyed caller hash)."""
    return key("callbacks", "caller", caller)
