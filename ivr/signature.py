"""Checking X-Twilio-Signature exactly as the twilio SDK does, with token rotation.

Twilio signs the full URL it requested. Behind a proxy the URL Flask sees differs (http vs
https, host, port), so PUBLIC_BASE_URL, when set, replaces scheme and host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from twilio.request_validator import RequestValidator


class SignatureChecker:
    """Accepts a request signed with the primary or, during rotation, the secondary token."""

    def __init__(self, tokens: Sequence[str], public_base_url: str = "") -> None:
        self.validators = [RequestValidator(t) for t in tokens if t]
        self.public_base_url = public_base_url.rstrip("/")

    def signed_url(self, request_url: str, full_path: str) -> str:
        """The URL Twilio signed: the public base URL when set, else what we were asked."""
        if self.public_base_url:
            return self.public_base_url + full_path
        return request_url

    def is_valid(self, url: str, params: Mapping[str, object], signature: str | None,
                 algorithm: str | None = None) -> bool:
        """True when any accepted token produced this signature."""
        if not signature:
            return False
        return any(v.validate(url, params, signature, algorithm) for v in self.validators)
