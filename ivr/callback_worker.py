"""``ivr worker``: the process that places callbacks, on rq (Redis Queue) with its scheduler.

Two kinds of rq job run here, on the queue ``onshore-callbacks``:

- ``dispatch()``: reads every open callback, gives back claims whose worker died
  (``callbacks.abandoned``), and enqueues a ``place`` job for each callback that is due
  (``callbacks.due``: its turn in its destination's line, the destination open). Each worker
  process also runs it every ``IVR_DISPATCH_SECONDS`` on a thread of its own, under a lock in
  Redis so one dispatcher runs at a time; a retry's spacing and a REST backoff are scheduled
  with rq's scheduler (``enqueue_at``) so they run on time between those passes.
- ``place(id, attempt)``: claims the attempt (one worker wins; a duplicate job does nothing),
  asks Twilio's REST API to create the outbound call from the number the caller dialed to the
  number they confirmed, with the callback's own URL for its TwiML (``/voice/callback``) and
  status callback (``/voice/callback/status``), and records the evidence.

What happens on the call is the webhooks' (``ivr.webhooks``): the person hears who is calling
and why and presses 1 to be connected to the domestic destination; no key (a voicemail, or
nobody) is an attempt not answered. rq's own retries are not used: a callback's retries are
part of its state in Redis (``ivr.callbacks``), which survives any worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlencode

from ivr import callbacks, evidence, twilio_rest
from ivr.callback_store import CallbackStore
from ivr.callbacks import REST_BACKOFF, Callback
from ivr.errors import SettingsError
from ivr.evidence import Keyring
from ivr.vocabulary import Event

log = logging.getLogger(__name__)
QUEUE = "onshore-callbacks"
CALLBACK_PATH, CALLBACK_STATUS_PATH = "/voice/callback", "/voice/callback/status"
DISPATCH_SECONDS = 2.0
# Twilio's date_created has whole seconds (RFC 2822): a call created in the claim's second
# may read up to 1 s before it; 1 s more for the hosts' clocks against Twilio's (NTP).
CLOCK_MARGIN = 2.0


@dataclass
class Context:
    """What the jobs need, built once per process from the environment."""

    redis: Any  # for rq: a client without decoded responses
    callbacks: CallbackStore
    store: Any  # ivr.store.Store: the evidence and the published centers
    keyring: Keyring
    public_base_url: str
    rest: Any  # twilio.rest.Client
    lease: float
    dispatch_every: float
    backoff: tuple[float, ...] = REST_BACKOFF

    def queue(self) -> Any:
        from rq import Queue

        return Queue(QUEUE, connection=self.redis)


def build(env: Mapping[str, str]) -> Context:
    """The worker's context; SettingsError names what is missing."""
    from ivr import keyring as make_keyring
    from ivr import store as store_module
    from ivr.settings import Settings

    base = env.get("PUBLIC_BASE_URL", "").rstrip("/")
    if not base:
        raise SettingsError(
            "PUBLIC_BASE_URL is required by ivr worker: Twilio fetches the callback's TwiML there"
        )
    settings = Settings.from_env(env, {"testing": True})  # the worker checks no webhook signature
    if not settings.caller_hash_key:
        raise SettingsError("IVR_CALLER_HASH_KEY is required: callbacks add to the calls' sealed evidence")
    rest = twilio_rest.client(twilio_rest.rest_settings(env))
    client = store_module.connect(settings.redis_url, timeout=5.0)
    return Context(
        redis=client,
        callbacks=CallbackStore(client),
        store=store_module.Store(client),
        keyring=make_keyring(settings),
        public_base_url=base,
        rest=rest,
        lease=float(env.get("IVR_CALLBACK_LEASE", callbacks.CLAIM_LEASE)),
        dispatch_every=float(env.get("IVR_DISPATCH_SECONDS", DISPATCH_SECONDS)),
        backoff=_seconds_list(env.get("IVR_CALLBACK_BACKOFF", ""), "IVR_CALLBACK_BACKOFF"),
    )


def _seconds_list(value: str, variable: str) -> tuple[float, ...]:
    """ "5,30,120" as seconds; "" is the default backoff."""
    if not value.strip():
        return callbacks.REST_BACKOFF
    try:
        out = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise SettingsError(f"{variable} must be seconds separated by commas, e.g. 5,30,120") from None
    if any(s < 0 for s in out):
        raise SettingsError(f"{variable} must not be negative")
    return out


@cache
def context() -> Context:
    return build(os.environ)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def record(ctx: Context, callback: Callback, step: str, key: str, **fields: object) -> None:
    """One step of the callback on the caller's call's evidence (idempotent per key)."""
    event = Event(f"{step}:{callback.id}:{key}", step, tuple((k, str(v)) for k, v in fields.items()))
    common = evidence.common_fields(callback.call_sid, callback.caller, datetime.now(UTC))
    ctx.store.append(callback.call_sid, evidence.seal_all(ctx.keyring, common, [event]))


def urls(ctx: Context, callback: Callback) -> tuple[str, str]:
    """The callback attempt's TwiML URL and status callback URL."""
    query = urlencode({"cb": callback.id, "a": str(callback.attempt)})
    return (
        f"{ctx.public_base_url}{CALLBACK_PATH}?{query}",
        f"{ctx.public_base_url}{CALLBACK_STATUS_PATH}?{query}",
    )


# -- the jobs ---------------------------------------------------------------------------------
def place(callback_id: str, attempt: int) -> str:
    """rq job: place one attempt of a callback; what happened, in a word."""
    return place_with(context(), callback_id, attempt)


def place_with(ctx: Context, callback_id: str, attempt: int) -> str:
    callback = ctx.callbacks.load(callback_id)
    if callback is None or callback.attempt != attempt or callback.state != "pending":
        return "not-pending"
    now = time.time()
    if callback.not_before > now:
        return "not-yet"
    claimed = ctx.callbacks.claim(callback, worker_name(), now)
    if claimed is None:
        return "claimed-elsewhere"
    url, status_url = urls(ctx, claimed)
    try:
        call = ctx.rest.calls.create(
            to=claimed.number,
            from_=claimed.called,
            url=url,
            method="POST",
            status_callback=status_url,
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=claimed.ring_timeout,
        )
    except Exception as exc:  # noqa: BLE001 - every REST failure is read by twilio_rest
        why = twilio_rest.reason(exc)
        after = callbacks.rest_failed(claimed, why, twilio_rest.retryable(exc), time.time(), ctx.backoff)
        if ctx.callbacks.swap(claimed, after, ("dialing",)):
            log.warning("callback %s attempt %d: %s", callback_id, attempt, why)
            closed = after.state == "failed"
            record(
                ctx,
                claimed,
                "callback_failed",
                f"{attempt}:rest{claimed.rest_errors}",
                attempt=attempt,
                reason=why,
                final=str(closed).lower(),
            )
            if not closed:
                schedule_dispatch(ctx, after.not_before)
        return "rest-error"
    placed = replace(claimed, outbound=str(call.sid))
    ctx.callbacks.swap(claimed, placed, ("dialing",))  # the status callback may have written it first
    record(
        ctx,
        claimed,
        "callback_placed",
        str(attempt),
        attempt=attempt,
        outbound=call.sid,
        center=claimed.center,
    )
    return "placed"


def dispatch() -> int:
    """rq job: one pass of the dispatcher; how many placements it enqueued."""
    ctx = context()
    return dispatch_with(ctx, lambda cb: ctx.queue().enqueue(place, cb.id, cb.attempt, job_timeout=60))


def dispatch_with(ctx: Context, enqueue: Any, now: float | None = None) -> int:
    """Give back abandoned claims, close calls Twilio never ended, and enqueue the due."""
    now = time.time() if now is None else now
    centers = ctx.store.centers()
    by_center: dict[str, dict[str, Callback]] = {}
    for callback_id in ctx.callbacks.open_ids():
        callback = ctx.callbacks.load(callback_id)
        if callback is None:
            continue
        if callbacks.abandoned(callback, now, ctx.lease):
            adopted = _call_of_claim(ctx, callback)
            if adopted is not None:  # Twilio has the call (or could not say): no second one
                callback = adopted
                by_center.setdefault(callback.center, {})[callback.id] = callback
                continue
            back = replace(callback, state="pending", worker="", claimed=0.0)
            if ctx.callbacks.swap(callback, back, ("dialing",)):
                log.warning(
                    "callback %s: worker %s gone before placing it; given back", callback.id, callback.worker
                )
                callback = back
        elif callbacks.stale_call(callback, now):
            after = callbacks.attempt_failed(callback, "no final status from Twilio", now)
            if ctx.callbacks.swap(callback, after, ("dialing",)):
                callback = after
        by_center.setdefault(callback.center, {})[callback.id] = callback
    enqueued = 0
    for center_id, open_callbacks in by_center.items():
        center = centers.get(center_id)
        line = ctx.callbacks.line(center_id)
        live = ctx.callbacks.live(center_id, line)
        is_open = center is not None and center.schedule.is_open(datetime.fromtimestamp(now, UTC))
        for callback in callbacks.due(line, open_callbacks, live, now, is_open):
            enqueue(callback)
            enqueued += 1
    return enqueued


def _call_of_claim(ctx: Context, callback: Callback) -> Callback | None:
    """Before a claim with no sign of a call is given back: did Twilio create one anyway?

    The claimer may have died after Twilio accepted the create but before writing the
    CallSid, with Twilio's first status callback not yet in (a slow webhook queue). The
    Calls list (``GET .../Calls.json``, filtered by To and From) is asked for a call between
    the two numbers created since the claim; one found is adopted (its CallSid written, the
    attempt goes on and its status callbacks end it). The callback as it is now when the
    claim must stay (a call found, or Twilio could not be asked: the next pass asks again),
    None when there is no call and the claim may be given back."""
    since = callback.claimed - CLOCK_MARGIN
    try:
        found = [
            call
            for call in ctx.rest.calls.list(to=callback.number, from_=callback.called, limit=20, page_size=20)
            if call.date_created is not None and call.date_created.timestamp() >= since
        ]
    except Exception as exc:  # noqa: BLE001 - every REST failure is read by twilio_rest
        log.warning(
            "callback %s: the Calls list failed (%s); the claim stays", callback.id, twilio_rest.reason(exc)
        )
        return callback
    if not found:
        return None
    call = min(found, key=lambda c: c.date_created)  # the first since the claim: this attempt's
    adopted = replace(callback, outbound=str(call.sid))
    if not ctx.callbacks.swap(callback, adopted, ("dialing",)):
        return ctx.callbacks.load(callback.id) or callback
    log.warning(
        "callback %s attempt %d: its worker died after Twilio created call %s (%s); adopted",
        callback.id,
        callback.attempt,
        call.sid,
        call.status,
    )
    record(
        ctx,
        callback,
        "callback_placed",
        str(callback.attempt),
        attempt=callback.attempt,
        outbound=call.sid,
        center=callback.center,
    )
    return adopted


def schedule_dispatch(ctx: Context, at: float) -> None:
    """A dispatcher pass at ``at`` (rq's scheduler enqueues it then)."""
    ctx.queue().enqueue_at(datetime.fromtimestamp(at, UTC), dispatch)


# -- the process ------------------------------------------------------------------------------
def dispatcher_loop(ctx: Context, stop: threading.Event) -> None:
    """Every ``dispatch_every`` seconds, one pass, under the lock (one dispatcher at a time)."""
    holder = worker_name()
    while not stop.wait(ctx.dispatch_every):
        try:
            if ctx.callbacks.locked(holder, max(ctx.dispatch_every * 3, 5.0)):
                dispatch_with(ctx, lambda cb: ctx.queue().enqueue(place, cb.id, cb.attempt, job_timeout=60))
        except Exception:  # noqa: BLE001 - Redis down: the next pass tries again
            log.exception("callback dispatcher pass failed")


def run(env: Mapping[str, str], burst: bool = False) -> None:
    """``ivr worker``: an rq worker with the scheduler on the callbacks' queue, and the
    dispatcher thread; returns when the worker stops (SIGTERM: after the current job)."""
    from rq import Worker

    ctx = build(env)
    context.cache_clear()
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher_loop, args=(ctx, stop), name="dispatcher", daemon=True)
    thread.start()
    try:
        Worker([ctx.queue()], connection=ctx.redis, name=f"onshore-{worker_name()}").work(
            with_scheduler=True, burst=burst
        )
    finally:
        stop.set()
