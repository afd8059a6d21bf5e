"""What a caller waiting in a queue hears: one document per waitUrl request (pure).

Theory of operation. Once an <Enqueue> names a waitUrl, Twilio plays no music of its own:
it requests the waitUrl, plays the document it gets and requests it again when that ends,
until an agent dequeues the caller, the caller hangs up, or a document says <Leave/>
(https://www.twilio.com/docs/voice/twiml/enqueue, https://www.twilio.com/docs/voice/twiml/leave).
An <Enqueue> has no timeout and never ends busy or unanswered. Each request carries
QueueTime (seconds in the queue so far) and QueuePosition. Nothing is kept between requests:
a document follows from QueueTime, so any worker answers any request and a replay gets the
same document.

A document is: on entry and every ``ANNOUNCE_EVERY`` seconds, the caller's place in line
and, when the queue's recent waits allow (``ivr.estimate``), the expected wait; then the
transfer offer; then one segment of hold music, the flow's own (``hold_music``) or Twilio's.
Twilio plays a file whole, so the offer comes between segments: ``offer_every`` is the
length of a segment, and the unit the announcements and the music's turn are counted in.
Past ``max_wait`` the document is <Leave/>; the webhook records why before it answers, so
the <Enqueue> action can tell a wait limit from the transfer key.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.engine import hold_offer
from ivr.estimate import minutes
from ivr.flow import TWILIO_HOLD_MUSIC, Flow
from ivr.vocabulary import WAIT_LIMIT, Event, Facts, Play, Speak
from ivr.wording import fill

ANNOUNCE_EVERY = 180  # seconds between two announcements of the place in line


@dataclass(frozen=True)
class Queued:
    """What a waitUrl request says about the caller: Twilio's QueueTime and QueuePosition."""

    time: int = 0
    position: int = 0  # 0: Twilio did not say


@dataclass(frozen=True)
class Hold:
    """One hold document: what the caller hears, or why they leave the queue now."""

    lines: tuple[Speak | Play, ...] = ()
    leave: str = ""  # WAIT_LIMIT, or "" to stay in the queue


def wait_limit(seq: str, state: str, center: str, queued: Queued, max_wait: int) -> Event:
    """The evidence of a caller leaving a queue for its wait limit, keyed by the step of the
    bridge it leaves, which the <Enqueue> action's step URL names too."""
    return Event(
        f"wait_limit:{seq}:{state}",
        "wait_limit",
        (("center", center), ("queue_time", str(queued.time)), ("max_wait", str(max_wait))),
    )


def past_limit(queued: Queued, max_wait: int) -> bool:
    """True once the caller has waited the queue's max_wait (0: no limit)."""
    return bool(max_wait) and queued.time >= max_wait


def announcing(flow: Flow, queued: Queued) -> bool:
    """True for the documents that say the place in line: the first, and the first after
    each ``ANNOUNCE_EVERY`` seconds."""
    return queued.time % ANNOUNCE_EVERY < flow.offer_every


def music(flow: Flow, queued: Queued) -> str:
    """The segment of hold music whose turn it is."""
    segments = flow.hold_music or TWILIO_HOLD_MUSIC
    return segments[queued.time // flow.offer_every % len(segments)]


def hold(
    flow: Flow, facts: Facts, queued: Queued, max_wait: int, language: str, expected: float | None = None
) -> Hold:
    """The document for this request; ``expected`` is the estimated wait still ahead in
    seconds (None: not enough recent waits to say)."""
    if past_limit(queued, max_wait):
        return Hold(leave=WAIT_LIMIT)
    lines: list[Speak | Play] = []
    lang = flow.speaking(language)
    if announcing(flow, queued) and queued.position > 0:
        lines.append(
            Speak(
                fill(flow.queue_position, flow, facts, None, lang.code, position=queued.position),
                lang.tag,
                lang.voice,
            )
        )
        if minutes(expected):
            lines.append(
                Speak(
                    fill(flow.queue_wait, flow, facts, None, lang.code, minutes=minutes(expected)),
                    lang.tag,
                    lang.voice,
                )
            )
    lines.append(hold_offer(flow, facts, language))
    lines.append(Play(music(flow, queued)))
    return Hold(tuple(lines))
