"""Per-call evidence: who called (as a keyed hash, never in clear) and what they heard.

The engine decides which steps happened (``ivr.vocabulary.Event``); this module adds what every
event of a call carries and makes the caller's number unreadable without the secret key.

Every entry of the ``onshore:events`` stream has ``call`` (CallSid), ``caller`` (keyed
hash), ``at`` (UTC, ISO 8601 with milliseconds) and ``step``, then by step:

    received            number, caller_country (ISO or "unknown"), caller_state, direction,
                        fresh, flow, version, exempt
    routed              center, city, country, by (route | overflow)
    no_center           state
    disclosed           center, city, country, text, language, prompt (alone: a <Say> before
                        the <Gather>, which no input can cut; gather: the cautious one, one
                        prompt with its offer)[, cautious=true]
    offered             text, key, keywords, prompt (gather: nested, so the caller's first key
                        or words stop it), attempt (1, then one more per offer heard again)
    offer_ended         ended (silence: the whole offer played, then the timeout passed with
                        no input | key | speech: during or after the offer; Twilio does not
                        say which), matched ("key 1", "said 'agent'": the transfer word only,
                        "unrecognised", or "" for silence), attempt, result (transfer | next:
                        silence, the caller's consent | again: the offer again | invalid: not
                        understood, retries used up)
    exempt              reason (domestic-center | emergency | foreign-business), center
    transfer_requested  how ("key 1", "said 'agent'", "key during hold"; at an offer the
                        transfer word matched, never the rest of the speech), by (key | voice |
                        hold), center (the center the caller was offered away from)
    bridged             center, city, country, region, target, domestic (true | false)
                        [, confirm=true: the answering side hears the whisper first]
    bridge_ended        status (DialCallStatus or QueueResult), outcome (what it means, from
                        ivr.outcomes: answered | gone | failed | left | moved), center,
                        domestic[, wait (QueueTime: seconds in the queue)][, bridged
                        (DialBridged: true | false, whether the caller was connected)]
    confirm             outcome (accepted | declined), key, center, leg (the answering leg's
                        CallSid): the key pressed at a confirm whisper, on the caller's call
    caller_id           reason (withheld | anonymous | restricted | ... | not-e164 | invalid),
                        shown (called-number), center: a <Dial><Number> showed the number
                        dialed instead of the caller's ID (never recorded itself)
    menu                state, input, result
    language            state, language, input
    hours               state, open, center
    handoff             url, center, heard, language (the call leaves Onshore's control)
    safe_answer         reason[, policy]
    unconfirmed         steps, macs, reason: a write that went to Redis with no reply in time;
                        the caller was answered from memory instead. If the record holds
                        the events these MACs name, the caller never heard them
    unavailable         reason
    status              status, duration, sequence

What the caller did (``how``, ``input``) is what the engine matched, never what they typed
or said beyond it: "key 2" (the one key a prompt reads), "said 'billing'" (the word as the
flow spells it), "unrecognised" (speech that matched nothing), "silence". Callers say card
and phone numbers at prompts; none of it is kept.

Values are strings; each (call, step, attempt) appears at most once. Then, added when the
event is sealed: ``kid`` (which key) and ``mac`` (HMAC-SHA256 of everything before it), and
by Redis when it is appended: ``prev`` and ``hash``, the links of the hash chain
(``hash`` = SHA-1 of ``prev`` + newline + the sealed event as JSON). The MAC makes an event
unforgeable without the key; the chain makes a deleted, edited or reordered event visible.

In the stream an entry is three fields: ``event`` (the sealed event, the JSON array
[name, value, ...] exactly as sealed), ``prev`` and ``hash``. Entries appended before this
layout hold the sealed event's fields themselves, then ``prev`` and ``hash``; ``unpack``
reads both as the same flat list, so one record may mix them and its chain stays whole.
The one field costs Redis less per append (no decoding of the event, three fields instead
of about twenty, and the same field names entry after entry, which Redis stores once).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring_ascii
from typing import Any

import orjson

from ivr.flow import Flow
from ivr.vocabulary import Event

CHAIN_FIELDS = ("prev", "hash")


@dataclass(frozen=True)
class Keyring:
    """The secret that hashes callers and seals events, by key id; old ids stay readable."""

    kid: str
    secret: bytes
    old: Mapping[str, bytes] = field(default_factory=dict)

    def secret_for(self, kid: str) -> bytes | None:
        """The secret of a key id, current or old."""
        return self.secret if kid == self.kid else self.old.get(kid)


def _json(items: Iterable[str]) -> str:
    """The JSON array of these strings, exactly as ``json.dumps(list(items), separators=(",",
    ":"))`` writes it, with the json module's own string encoder (in C): half the time of
    building the array through ``json.JSONEncoder`` (a test holds the two together)."""
    return "[" + ",".join(map(encode_basestring_ascii, items)) + "]"


@lru_cache(maxsize=16)
def _keyed(secret: bytes) -> hmac.HMAC:
    """HMAC-SHA256 keyed with this secret and nothing hashed yet: each MAC copies it, a
    third cheaper than keying afresh."""
    return hmac.new(secret, digestmod=hashlib.sha256)


def _mac(secret: bytes, payload: str) -> str:
    mac = _keyed(secret).copy()
    mac.update(payload.encode())
    return mac.hexdigest()


def seal(keyring: Keyring, common: Mapping[str, str], event: Event) -> tuple[str, str]:
    """(step key, the event as the JSON array [name, value, ...] Redis appends), signed."""
    return seal_all(keyring, common, [event])[0]


def seal_all(keyring: Keyring, common: Mapping[str, str], events: Iterable[Event]) -> list[tuple[str, str]]:
    """``seal`` for each of a webhook's events, the fields they share encoded once: the
    text is exactly _json(common + step + fields + kid) followed by the MAC of that text."""
    shared = _json([part for pair in common.items() for part in pair])[1:-1]
    head = f"[{shared}," if shared else "["  # no common fields: no comma before "step"
    tail = f',"kid",{_json([keyring.kid])[1:]}'
    sealed = []
    for event in events:
        own = _json(["step", event.step, *[part for pair in event.fields for part in pair]])
        payload = f"{head}{own[1:-1]}{tail}"
        # the same text as _json(flat + ["mac", mac]): the MAC is hex, nothing to escape
        sealed.append((event.key, f'{payload[:-1]},"mac","{_mac(keyring.secret, payload)}"]'))
    return sealed


def unpack(stored: Sequence[str]) -> list[str]:
    """An entry as Redis holds it ([name, value, ...]), in either layout, as the sealed
    event's fields followed by the chain fields: [name, value, ..., "prev", p, "hash", h]."""
    return unpacked_with_text(stored)[0]


def unpacked_with_text(stored: Sequence[str]) -> tuple[list[str], str]:
    """``unpack``, and the sealed text as stored ("" for the earlier layout): the very text
    the chain hash was computed over, so a walk of the record need not encode it again."""
    if len(stored) == 6 and stored[0] == "event":  # orjson: a third of json's time here
        try:
            sealed = orjson.loads(stored[1])
        except orjson.JSONDecodeError:
            sealed = None
        if isinstance(sealed, list):
            return [*sealed, *stored[2:]], stored[1]
    return list(stored), ""  # not an event as sealed: verify names it, it does not stop there


def pairs(fields: Sequence[str]) -> dict[str, str]:
    """An entry's fields as stored (name, value, name, value, ...) as a mapping."""
    return dict(zip(fields[::2], fields[1::2], strict=True))


def body_of(entry: Sequence[str]) -> str:
    """The sealed JSON an appended entry ([name, value, ...] with chain fields) came from."""
    return _json(entry[: -2 * len(CHAIN_FIELDS)])


def mac_is_valid(keyring: Keyring, entry: Sequence[str], body: str = "") -> bool | None:
    """True or False for an entry's MAC; None when its key id is unknown here. ``body``,
    when given, is ``body_of(entry)``: the signed text is cut from it, not encoded again
    (a walk of the whole record encodes each entry once)."""
    sealed = entry[: -2 * len(CHAIN_FIELDS)]
    if len(sealed) < 4 or sealed[-4] != "kid" or sealed[-2] != "mac":
        return False
    secret = keyring.secret_for(sealed[-3])
    if secret is None:
        return None
    if body:  # body is payload[:-1] + ',"mac",' + the MAC encoded + "]", as seal_all wrote it
        payload = body[: len(body) - len(encode_basestring_ascii(sealed[-1])) - 8] + "]"
    else:
        payload = _json(sealed[:-2])
    # a forged MAC may hold any text; compare_digest refuses non-ASCII strings (TypeError)
    return sealed[-1].isascii() and hmac.compare_digest(_mac(secret, payload), sealed[-1])


class SealCheck:
    """``mac_is_valid`` for a walk of the whole record, on the sealed text as stored: a
    text that ends as ``seal_all`` ends it (``,"kid",<kid>,"mac","<64 hex>"]``) for a key id
    held here has its MAC checked without decoding the text. ``valid`` answers True only
    for a MAC that is right (the text before it was then sealed with the key, so it is the
    JSON array ``seal_all`` wrote); False means "not shown valid this way": the caller
    checks the entry the long way (``mac_is_valid``), which names what is wrong.

    HMAC-SHA256 as RFC 2104 defines it, from SHA-256 states keyed once per key id: a MAC is
    two copies and two updates, a third of ``hmac``'s cost per call (a test holds the two
    equal)."""

    _TAIL = len(',"mac","') + 64 + len('"]')

    def __init__(self, keyring: Keyring) -> None:
        self._keys: list[tuple[bytes, int, Any, Any]] = []
        for kid, secret in [(keyring.kid, keyring.secret), *keyring.old.items()]:
            tail = f',"kid",{encode_basestring_ascii(kid)},"mac","'.encode()
            block = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
            block = block.ljust(64, b"\0")
            inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
            outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
            self._keys.append((tail, len(tail) + 64 + 2, inner, outer))

    def valid(self, text: bytes) -> bool:
        """True when ``text`` is a sealed event whose MAC is right under a key held here."""
        if text[-2:] != b'"]':
            return False
        for tail, cut, inner, outer in self._keys:
            if text[-cut:-66] == tail:
                signed = inner.copy()
                signed.update(text[: -self._TAIL])
                signed.update(b"]")
                mac = outer.copy()
                mac.update(signed.digest())
                return hmac.compare_digest(mac.hexdigest().encode(), text[-66:-2])
        return False


def link(prev: str, body: str) -> str:
    """The chain hash of an entry, as the Redis script computes it."""
    return hashlib.sha1((prev + "\n" + body).encode()).hexdigest()


def caller_hash(number: str, secret: bytes) -> str:
    """HMAC-SHA256 of the caller's number with the operator's secret, shortened."""
    if not number:
        return "unknown"
    return _mac(secret, number)[:32]


def is_caller_hash(value: str) -> bool:
    """True for what ``caller_hash`` gives: 32 hex digits, or "unknown"."""
    return value == "unknown" or (len(value) == 32 and all(c in "0123456789abcdef" for c in value))


def common_fields(call_sid: str, caller: str, now: datetime) -> dict[str, str]:
    """Fields every event of a call carries."""
    return {
        "call": call_sid,
        "caller": caller,
        "at": now.astimezone(UTC).isoformat(timespec="milliseconds"),
    }


def received(
    number: str,
    from_country: str,
    from_state: str,
    direction: str,
    fresh: bool,
    flow: Flow | None,
    exempt: str,
    rules: str = "",
    home_only: bool = False,
) -> Event:
    """The first event of every call: what was dialed, from where, on which flow version,
    under which rule sets (``ivr.rulesets.labels``: names and versions) and whether the
    line is held to the home country (R19)."""
    country = caller_country(from_country)
    return Event(
        "received",
        "received",
        (
            ("number", number),
            ("caller_country", country),
            ("caller_state", from_state if country == "US" else ""),
            ("direction", direction),
            ("fresh", str(fresh).lower()),
            ("flow", flow.id if flow else ""),
            ("version", str(flow.version) if flow else ""),
            ("exempt", exempt),
            ("rules", rules),
            ("home_only", str(home_only).lower()),
        ),
    )


def unconfirmed(sent: Sequence[tuple[str, str]], answered: Sequence[tuple[str, str]]) -> Event | None:
    """The event that names, by MAC, the sealed events of a write Redis may have appended
    without its reply reaching us, when the caller was given another answer (sealed events,
    ``answered``); those under a step key the answer records too (``received``) are left
    out: one of the two stays in the record, the first to get there. None when none is
    left."""
    given = {step_key for step_key, _ in answered}
    unheard = [(step_key, body[-66:-2]) for step_key, body in sent if step_key not in given]
    if not unheard:
        return None
    return Event(
        f"unconfirmed:{unheard[0][0]}",
        "unconfirmed",
        (
            ("steps", ",".join(k for k, _ in unheard)),
            ("macs", ",".join(m for _, m in unheard)),
            ("reason", "Redis did not reply in time; the caller was answered from memory"),
        ),
    )


def caller_country(value: str) -> str:
    """Twilio's FromCountry when it knows it; "unknown" rather than a guess (R11)."""
    value = (value or "").strip().upper()
    return value if len(value) == 2 and value.isalpha() else "unknown"
