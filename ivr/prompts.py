"""How Twilio plays a ``<Gather>`` prompt and hears the answer, for the parts that play
Twilio's role without Twilio (``ivr.simulation`` on the engine, ``ivr.caller`` on the TwiML).

From Twilio's ``<Gather>`` page (https://www.twilio.com/docs/voice/twiml/gather):

- A ``<Say>``/``<Play>`` nested in a ``<Gather>`` stops at the caller's first key or detected
  speech while ``bargeIn`` is on, its default; with ``bargeIn="false"`` it plays on. A
  ``<Say>`` outside any ``<Gather>`` is not listened to: nothing the caller does cuts it.
- Keys end at ``finishOnKey`` (default ``#``), which is not part of the input, so a lone
  ``#`` is no input at all; ``finishOnKey=""`` makes every key input. ``numDigits`` ends the
  input after that many keys.
- The timeout starts once the nested prompts have played: silence follows a whole prompt.
"""

from __future__ import annotations

DEFAULT_FINISH_ON_KEY = "#"


def keys_heard(pressed: str, finish_on_key: str = DEFAULT_FINISH_ON_KEY, num_digits: int = 0) -> str:
    """The Digits Twilio posts for these key presses ("": no input, as for silence)."""
    heard = ""
    for key in pressed:
        if finish_on_key and key in finish_on_key:
            break
        heard += key
        if num_digits and len(heard) >= num_digits:
            break
    return heard
