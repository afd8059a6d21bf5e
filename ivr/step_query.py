"""Step-URL query values written in unreserved characters only (RFC 3986: A-Z a-z 0-9 - . _ ~).

Twilio signs the URL it requested, but its signers have not always treated percent-escapes
the way its requests do: a URL carrying ``%40`` or ``%3A`` was signed with ``@`` and ``:``
(https://github.com/twilio/twilio-node/pull/621), an apostrophe sent as ``%27`` was signed as
``'`` (https://github.com/twilio/twilio-node/issues/1059). Either way the caller hears
"application error". A URL with no escape at all reads the same however it is normalised,
so a value that is already unreserved goes as it is, and any other (``@domestic``,
``Manila|PH``, ``São Paulo|BR``, ``*``) as ``~`` followed by its UTF-8 in unpadded base64url.

URLs given out before this carried percent-escaped values (never starting with ``~``); they
are read as they were, so calls in progress during an upgrade keep their place.
"""

from __future__ import annotations

import base64
import re

_PLAIN = re.compile(r"[A-Za-z0-9._-][A-Za-z0-9._~-]*")
MARK = "~"
LIST_SEPARATOR = "."  # ids are [A-Za-z0-9_-]; URLs given out before used ","
_SEPARATORS = re.compile(r"[.,]")


def encode(value: str) -> str:
    """The value as it goes into a step URL: unchanged when unreserved, else ``~`` + base64url."""
    if not value or _PLAIN.fullmatch(value):
        return value
    return MARK + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode(value: str) -> str:
    """Inverse of encode; a value from an older URL (already percent-decoded) as it is.
    Raises ValueError on a marked value that is not base64url UTF-8."""
    if not value.startswith(MARK):
        return value
    data = value[1:]
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()


def split(value: str) -> tuple[str, ...]:
    """A list of ids joined by LIST_SEPARATOR (or, in older URLs, by commas)."""
    return tuple(_SEPARATORS.split(value)) if value else ()
