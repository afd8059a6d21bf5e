"""What the engine makes of what a caller pressed or said: the transfer asked for, a menu's
word heard, and how that is written in the evidence (the key or the word matched, never
the rest: callers type and say phone and card numbers). Pure: no I/O."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from ivr.flow import Flow, Language
from ivr.vocabulary import Heard, Reply

_NOT_WORD = re.compile(r"[^\w\s]")


def transfer_hints(flow: Flow, lang: Language) -> tuple[str, ...]:
    """Speech hints for the transfer: the call's language first, then the flow's others."""
    return tuple(dict.fromkeys(lang.words + flow.transfer_words))


def _normalized(text: str) -> str:
    """Lower case, accents and punctuation removed, padded: " estados unidos "."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return f" {' '.join(_NOT_WORD.sub(' ', plain).split())} "


def heard_as(text: str) -> str:
    """The form ``says`` compares: lower case, no accents or punctuation, padded by spaces."""
    return _normalized(text)


def says(speech: str, word: str) -> bool:
    """True when the word or phrase is in the speech as whole words (case, accents and
    punctuation aside): "América, por favor" says "america"; "agency" does not say "agent"."""
    return _normalized(word) in _normalized(speech)


def asks_for_transfer(flow: Flow, reply: Reply) -> bool:
    """The transfer key pressed, or a transfer word of any of the flow's languages heard."""
    if not isinstance(reply, Heard):
        return False
    if reply.digits and reply.digits.strip().startswith(flow.transfer_key):
        return True
    return any(says(reply.speech, word) for word in flow.transfer_words)


def word_in(speech: str, words: Iterable[str]) -> str:
    """The longest of the words heard in the speech ("tech support" before "support"); ""."""
    return next((w for w in sorted(words, key=len, reverse=True) if says(speech, w)), "")


def described(reply: Reply, words: Iterable[str], key: str = "") -> str:
    """What the engine made of the caller's input, for the evidence: "key 1" (``key`` when
    the digits start with it, else the one key a menu reads), "said 'agent'" (the word it
    matched, as the flow spells it), "unrecognised" (speech without any of ``words``), or ""
    for nothing. Never the rest: callers type and say phone and card numbers."""
    if not isinstance(reply, Heard):
        return ""
    digits = reply.digits.strip()
    if digits:
        return f"key {key if key and digits.startswith(key) else digits[:1]}"
    if not reply.speech.strip():
        return ""
    word = word_in(reply.speech, words)
    return f"said '{word}'" if word else "unrecognised"


def transfer_input(flow: Flow, reply: Reply) -> str:
    """How the caller asked for the transfer, for the evidence: the key or the word."""
    return described(reply, flow.transfer_words, flow.transfer_key)


def matched(flow: Flow, reply: Reply) -> str:
    """What asked for the transfer at an offer: "key 1", "said 'agent'" (the transfer word,
    never the rest of the speech), or "" when nothing did. Speech below the flow's
    ``min_confidence`` asks for nothing."""
    if not asks_for_transfer(flow, reply):
        return ""
    assert isinstance(reply, Heard)
    if not reply.digits.strip() and reply.confidence < flow.min_confidence:
        return ""
    return transfer_input(flow, reply)
