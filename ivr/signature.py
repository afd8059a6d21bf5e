"""Checking X-Twilio-Signature exactly as Twilio signs it, with key rotation.

Twilio signs the full URL it requested followed by each POST parameter's name and value,
names sorted (a GET request: the URL with its query string, nothing after it). Behind a
proxy the URL Flask sees differs (http vs https, host, port), so PUBLIC_BASE_URL, when set,
replaces scheme and host.

Which secret signed it: by default the account's auth token, with HMAC-SHA1 (the primary or,
during a rotation, the secondary token). When a Webhook Rule matches the URL, Twilio signs
with that Rule's Setting's SharedKey instead, with the Setting's algorithm, and says so in
``X-Twilio-Webhooks-Signature-Settings: key=<SharedKey id>,algorithm=HMAC_SHA256``; then the
SharedKey named there is the HMAC key and the auth token is not
(https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys; twilio-node's
examples/WebhookSignatureValidation.md: "Only the hash changes. The signed string is still
the full URL followed by the sorted POST parameters"). Several SharedKeys may be configured,
so a rotation never refuses a call.

``RequestValidator.validate`` always computes two HMACs (URL with and without the port).
This module accepts exactly the same requests (the tests compare it with the SDK on its
vectors and on generated requests) but stops at the first match.
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlparse

from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    add_port,
    get_signature_algorithm,
    remove_port,
)

log = logging.getLogger(__name__)
_DIGESTS = {HMAC_SHA1: "sha1", HMAC_SHA256: "sha256"}


Params = Mapping[str, str] | Iterable[tuple[str, str]]  # a mapping, or every (name, value)


def _payload(params: Params) -> str:
    """Names sorted, each name's distinct values sorted, as the SDK concatenates them: the
    same order as the distinct (name, value) pairs sorted."""
    items = params.items() if isinstance(params, Mapping) else params
    return "".join([name + value for name, value in sorted(set(items))])


def _url_forms(url: str) -> tuple[str, ...]:
    """The URL forms the SDK tries (without and with the port), each once, the one that is
    the URL as requested first: Twilio signs what it requested, so one HMAC usually
    decides."""
    parsed = urlparse(url)
    forms = (remove_port(parsed), add_port(parsed))
    return tuple(dict.fromkeys(sorted(forms, key=lambda form: form != url)))


# Webhook URLs repeat (/voice, and step URLs differ only by the flow's states), so their
# forms are remembered, but only once a request to that URL verified: the Host header and
# the query string are the client's choice, and a forgery must leave nothing behind.
SIGNED_URLS = 1024
_signed: dict[str, tuple[str, ...]] = {}


def _remember(url: str, forms: tuple[str, ...]) -> None:
    if url not in _signed:
        if len(_signed) >= SIGNED_URLS:
            del _signed[next(iter(_signed))]  # the oldest
        _signed[url] = forms


def _shared_key_id(settings: str) -> str:
    """The ``key=`` item of a signature-settings header ("" when there is none)."""
    for part in settings.split(","):
        name, separator, value = part.partition("=")
        if separator and name.strip() == "key":
            return value.strip()
    return ""


class SignatureChecker:
    """Accepts a request signed with the primary or secondary auth token, or, when its
    signature-settings header names one, with one of the configured SharedKeys."""

    def __init__(
        self, tokens: Sequence[str], public_base_url: str = "", shared_keys: Mapping[str, bytes] | None = None
    ) -> None:
        self.keys = [t.encode() for t in tokens if t]
        self.shared_keys = dict(shared_keys or {})
        self.public_base_url = public_base_url.rstrip("/")

    def signed_url(self, request_url: str, full_path: str) -> str:
        """The URL Twilio signed: the public base URL when set, else what we were asked."""
        if self.public_base_url:
            return self.public_base_url + full_path
        return request_url

    def secrets(self, settings: str | None) -> list[bytes]:
        """The secrets that may have signed a request with this signature-settings header:
        without one, the auth tokens; with one, the SharedKey it names (every configured one
        when it names none), never the auth token."""
        if not settings:
            return self.keys
        key_id = _shared_key_id(settings)
        if not key_id:
            return list(self.shared_keys.values())
        secret = self.shared_keys.get(key_id)
        if secret is None:
            log.warning("signed with SharedKey %.64r, which TWILIO_WEBHOOK_SHARED_KEYS does not list", key_id)
            return []
        return [secret]

    def is_valid(self, url: str, params: Params, signature: str | None, settings: str | None = None) -> bool:
        """True when an accepted secret produced this signature with the algorithm the
        signature-settings header names (HMAC-SHA1 without one), URL forms as the SDK tries."""
        digest = _DIGESTS.get(get_signature_algorithm(settings).upper())
        if not signature or digest is None:
            return False
        secrets = self.secrets(settings)
        payload = _payload(params)
        expected = signature.encode()
        forms = _signed.get(url) or _url_forms(url)
        for uri in forms:
            message = (uri + payload).encode()
            for secret in secrets:
                mac = base64.b64encode(hmac.digest(secret, message, digest))
                if hmac.compare_digest(mac, expected):
                    _remember(url, forms)
                    return True
        return False
