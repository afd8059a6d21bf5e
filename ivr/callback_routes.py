"""The webhooks of a callback's outbound call (``ivr.callback_worker`` places it,
``ivr.callback_calls`` words it; this is the edge): the person's leg and the call's status
callbacks. Each step of the callback is recorded on the caller's own call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ivr import twiml
from ivr.twilio_request import TwilioRequest
from ivr.vocabulary import Event

if TYPE_CHECKING:
    from ivr.webhooks import Onshore

log = logging.getLogger(__name__)


def leg(app: Onshore, request: TwilioRequest) -> str:
    """The leg of a callback Onshore placed (``ivr.callback_worker``): who is calling and
    why, the key that connects, then how the bridge to the domestic destination ended."""
    from ivr import callback_calls, callbacks, outcomes, webhooks

    args, form = request.args, request.form
    try:
        store = webhooks._callback_store(app)
        callback = store.load(args.get("cb", ""))
        if callback is None or str(callback.attempt) != args.get("a", ""):
            return twiml.apology(callback_calls.text("over", "en-US"))
        stage, now = args.get("s", ""), time.time()
        if stage == "":
            if callback.state != "dialing":
                return callback_calls.said("over", callback)
            if not callback.outbound:  # the worker died before it could write the CallSid
                store.swap(callback, replace(callback, outbound=form.get("CallSid", "")), ("dialing",))
            return callback_calls.greeting(
                callback, webhooks.store_centers(app).get(callback.center), app.settings.home_country
            )
        if stage == "key":
            center = webhooks.store_centers(app).get(callback.center)
            if form.get("Digits", "")[:1] != callback_calls.ANSWER_KEY or center is None:
                return callback_calls.said("no_key", callback)
            taken = replace(callback, state="connecting", placed=callback.placed or now)
            if not store.swap(callback, taken, ("dialing",)):
                return callback_calls.said("over", callback)
            event = _event(
                callback,
                "callback_answered",
                attempt=callback.attempt,
                waited=round(now - callback.requested),
                center=callback.center,
            )
            return _on_callers_call(app, callback, callback_calls.connect(callback, center), event)
        if stage == "ended" and callback.state == "connecting":
            status = form.get("DialCallStatus") or form.get("QueueResult") or ""
            read = outcomes.meaning(status, form.get("CallStatus") == "completed", None)
            if read == outcomes.ANSWERED:
                after, document = callbacks.close(callback, "done", "bridged", now), twiml.empty()
            elif read == outcomes.GONE:
                after = callbacks.close(
                    callback, "failed", "the person hung up before an agent answered", now
                )
                document = twiml.empty()
            else:
                after = callbacks.attempt_failed(callback, f"domestic bridge {status}", now)
                document = callback_calls.said("not_connected", callback)
            if not store.swap(callback, after, ("connecting",)):
                return document
            event = _event(
                callback,
                "callback_bridged",
                status=status,
                outcome=read,
                center=callback.center,
                state=after.state,
            )
            return _on_callers_call(app, callback, document, event)
        return twiml.empty()
    except Exception:  # noqa: BLE001 - Redis or anything else: the person hears an apology
        log.exception("callback leg %s failed", args.get("cb", ""))
        return twiml.apology(callback_calls.text("not_connected", "en-US"))


def status(app: Onshore, request: TwilioRequest) -> str:
    """Twilio's status callbacks of a callback's outbound call: the CallSid when the worker
    could not write it, and the end of an attempt nobody took (no answer, busy, failed, or
    answered with no key: a voicemail)."""
    from ivr import callbacks, webhooks

    args, form = request.args, request.form
    store = webhooks._callback_store(app)
    callback = store.load(args.get("cb", ""))
    if callback is None or str(callback.attempt) != args.get("a", ""):
        return twiml.empty()
    call_status, sid = form.get("CallStatus", ""), form.get("CallSid", "")
    if call_status in ("queued", "initiated", "ringing", "in-progress"):
        if callback.state == "dialing" and not callback.outbound:
            store.swap(callback, replace(callback, outbound=sid), ("dialing",))
        if call_status != "initiated":
            return twiml.empty()
        # Twilio's first word on the call, maybe before the worker's REST reply: the
        # same step as the worker records, whichever comes first
        placed = _event(
            callback, "callback_placed", attempt=callback.attempt, outbound=sid, center=callback.center
        )
        return _on_callers_call(app, callback, twiml.empty(), placed)
    if callback.state != "dialing":  # taken (connecting or done): the leg's action decides
        return twiml.empty()
    why = "answered, no key pressed" if call_status == "completed" else call_status or "ended"
    after = callbacks.attempt_failed(callback, why, time.time())
    if not store.swap(callback, after, ("dialing",)):
        return twiml.empty()
    event = _event(
        callback,
        "callback_failed",
        attempt=callback.attempt,
        reason=why,
        final=str(after.state == "failed").lower(),
        outbound=sid,
    )
    return _on_callers_call(app, callback, twiml.empty(), event)


def _event(callback: Any, step: str, **fields: object) -> Event:
    return Event(
        f"{step}:{callback.id}:{callback.attempt}", step, tuple((k, str(v)) for k, v in fields.items())
    )


def _on_callers_call(app: Onshore, callback: Any, document: str, event: Event) -> str:
    """Record a callback's step on the caller's own call (spooled if Redis cannot take it)."""
    from ivr import webhooks

    return webhooks.record(app, callback.call_sid, "", document, [event], hashed=callback.caller)
