"""Per-call evidence: who called (as a keyed hash, never in clear) and what they heard.

The engine decides which steps happened (``ivr.engine.Event``); this module adds what every
event of a call carries and makes the caller's number unreadable without the secret key.
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
