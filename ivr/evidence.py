"""Per-call evidence: who called (as a keyed hash, never in clear) and what they heard.

The engine decides which steps happened (``ivr.engine.Event``); this module adds what every
event of a call carries and makes the caller's number unreadable without the secret key.

Every entry of the ``onshore:events`` stream has ``call`` (CallSid), ``caller`` (keyed
hash), ``at`` (UTC, ISO 8601 with milliseconds) and ``step``, then by step:

    received            number, caller_country (ISO or "unknown"), caller_state, direction,
                        fresh, flow, version, exempt
    routed              center, city, country, by (route | overflow)
    no_center           state
    disclosed           center, city, country, text, language[, cautious=true]
    offered             text, key, keywords
    exempt              reason (domestic-center | emergency | foreign-business), center
    transfer_requested  how ("key 1", "said 'agent'", "key during hold"), by (key | voice |
                        hold), center (the center the caller was offered away from)
    bridged             center, city, country, region, target, domestic (true | false)
    bridge_ended        status (DialCallStatus or QueueResult), center, domestic
    safe_answer         reason[, policy]
    unavailable         reason
    status              status, duration, sequence

Values are strings; each (call, step, attempt) appears at most once.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime


def caller_hash(number: str, secret: bytes) -> str:
    """HMAC-SHA256 of the caller's number with the operator's secret, shortened."""
    if not number:
        return "unknown"
    return hmac.new(secret, number.encode(), hashlib.sha256).hexdigest()[:32]


def common_fields(call_sid: str, caller: str, now: datetime) -> dict[str, str]:
    """Fields every event of a call carries."""
    return {
        "call": call_sid,
        "caller": caller,
        "at": now.astimezone(UTC).isoformat(timespec="milliseconds"),
    }


def caller_country(value: str) -> str:
    """Twilio's FromCountry when it knows it; "unknown" rather than a guess (R11)."""
    value = (value or "").strip().upper()
    return value if len(value) == 2 and value.isalpha() else "unknown"
