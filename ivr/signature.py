"""Checking X-Twilio-Signature exactly as the twilio SDK does, with token rotation.

Twilio signs the full URL it requested followed by each POST parameter's name and value,
names sorted. Behind a proxy the URL Flask sees differs (http vs https, host, port), so
PUBLIC_BASE_URL, when set, replaces scheme and host.

``RequestValidator.validate`` always computes two HMACs (URL with and without the port).
This module accepts exactly the same requests (the tests compare it with the SDK on its
vectors and on generated requests) but stops at the first match.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from urllib.parse import urlparse

from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, add_port, remove_port

_DIGESTS = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}


Params = Mapping[str, str] | Iterable[tuple[str, str]]  # a mapping, or every (name, value)


def _payload(params: Params) -> str:
    """Names sorted, each name's distinct values sorted, as the SDK concatenates them: the
    same order as the distinct (name, value) pairs sorted."""
    items = params.items() if isinstance(params, Mapping) else params
    return "".join([name + value for name, value in sorted(set(items))])


@lru_cache(maxsize=4096)
def _signed_forms(url: str) -> tuple[str, ...]:
    """The URL forms the SDK tries (without and with the port), each once, the one that is
    the URL as requested first: Twilio signs what it requested, so one HMAC usually
    decides. Webhook URLs repeat (/voice, and step URLs differ only by the flow's states),
    so this is cached."""
    parsed = urlparse(url)
    forms = (remove_port(parsed), add_port(parsed))
    return tuple(dict.fromkeys(sorted(forms, key=lambda form: form != url)))


class SignatureChecker:
    """Accepts a request signed with the primary or, during rotation, the secondary token."""

    def __init__(self, tokens: Sequence[str], public_base_url: str = "") -> None:
        self.keys = [t.encode() for t in tokens if t]
        self.public_base_url = public_base_url.rstrip("/")

    def signed_url(self, request_url: str, full_path: str) -> str:
        """The URL Twilio signed: the public base URL when set, else what we were asked."""
        if self.public_base_url:
            return self.public_base_url + full_path
        return request_url

    def is_valid(self, url: str, params: Params, signature: str | None,
                 algorithm: str | None = None) -> bool:
        """True when any accepted token produced this signature, as the SDK decides it."""
        digest = _DIGESTS.get((algorithm or HMAC_SHA1).upper())
        if not signature or digest is None:
            return False
        payload = _payload(params)
        expected = signature.encode()
        for uri in _signed_forms(url):
            message = (uri + payload).encode()
            for secret in self.keys:
                mac = base64.b64encode(hmac.digest(secret, message, digest))
                if hmac.compare_digest(mac, expected):
                    return True
        return False
