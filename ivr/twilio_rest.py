"""Twilio's REST API, through the twilio SDK's own client (``twilio.rest.Client``).

Onshore calls Twilio (outbound callbacks, call updates; TaskRouter) with the credentials an
operator gives in the environment:

- ``TWILIO_ACCOUNT_SID`` (``AC...``), always: the account whose resources are used;
- ``TWILIO_API_KEY`` (``SK...``) and ``TWILIO_API_SECRET``: an API key, Twilio's advice for
  production (https://www.twilio.com/docs/iam/api-keys): the key authenticates (HTTP Basic,
  key SID and secret) and the account SID names the account in the URLs; or else
- ``TWILIO_AUTH_TOKEN``: the account's auth token (HTTP Basic, account SID and token).

``TWILIO_API_BASE_URL`` (for tests only) sends every request meant for a ``*.twilio.com``
host to another base URL instead (``http://127.0.0.1:PORT``), path and query kept: the SDK
has no such setting (its ``edge`` and ``region`` only pick among Twilio's own hosts), so the
client's HTTP layer is given a subclass of the SDK's ``TwilioHttpClient`` that rewrites the
URL and changes nothing else, which is the SDK's documented way to alter its requests
(twilio-python, advanced-examples/custom-http-client.md). Twilio's cloud cannot be reached
from the test machines; the tests point this at ``tests/twilio_cloud.py``.

What failed, and whether trying again can help, is read once here (``retryable``): an
error Twilio answered with a 4xx means the request itself is wrong (a bad number, a bad
credential) and is not repeated, except 429 (too many requests); a 5xx, a timeout or a
connection that failed may succeed later.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.errors import SettingsError
from ivr.settings import refuse_placeholder

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_KEY = re.compile(r"^SK[0-9a-fA-F]{32}$")
TWILIO_HOSTS = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.twilio\.com$")
DEFAULT_TIMEOUT = 10.0  # seconds per REST request; a callback worker can wait, a webhook never calls


@dataclass(frozen=True)
class RestSettings:
    """What the REST client needs: the account, who authenticates, where and how long."""

    account_sid: str
    username: str  # the API key SID, or the account SID with the auth token
    password: str
    base_url: str = ""  # "" is Twilio itself
    timeout: float = DEFAULT_TIMEOUT

    @property
    def uses_api_key(self) -> bool:
        return self.username != self.account_sid


def rest_settings(env: Mapping[str, str]) -> RestSettings:
    """The REST settings from the environment; SettingsError names the variable at fault."""
    account = env.get("TWILIO_ACCOUNT_SID", "").strip()
    if not account:
        raise SettingsError("TWILIO_ACCOUNT_SID is required to call Twilio's REST API (callbacks)")
    if not ACCOUNT_SID.match(account):
        raise SettingsError("TWILIO_ACCOUNT_SID must be an account SID: AC and 32 hexadecimal digits")
    key, secret = env.get("TWILIO_API_KEY", "").strip(), env.get("TWILIO_API_SECRET", "").strip()
    token = env.get("TWILIO_AUTH_TOKEN", "").strip()
    if key or secret:
        if not API_KEY.match(key):
            raise SettingsError("TWILIO_API_KEY must be an API key SID: SK and 32 hexadecimal digits")
        if not secret:
            raise SettingsError("TWILIO_API_SECRET is required with TWILIO_API_KEY")
        refuse_placeholder("TWILIO_API_SECRET", secret)
        username, password = key, secret
    elif token:
        refuse_placeholder("TWILIO_AUTH_TOKEN", token)
        username, password = account, token
    else:
        raise SettingsError(
            "Twilio's REST API needs TWILIO_API_KEY and TWILIO_API_SECRET, or TWILIO_AUTH_TOKEN"
        )
    base = env.get("TWILIO_API_BASE_URL", "").strip().rstrip("/")
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise SettingsError("TWILIO_API_BASE_URL must be a base URL such as http://127.0.0.1:8080")
    try:
        timeout = float(env.get("IVR_TWILIO_TIMEOUT", DEFAULT_TIMEOUT))
    except ValueError:
        raise SettingsError("IVR_TWILIO_TIMEOUT must be a number of seconds") from None
    if not 0 < timeout <= 60:
        raise SettingsError("IVR_TWILIO_TIMEOUT must be between 0 and 60 seconds")
    return RestSettings(account, username, password, base, timeout)


def rebased(url: str, base: str) -> str:
    """The URL with a Twilio host replaced by ``base`` (its scheme, host and path prefix);
    any other URL as it is."""
    parts = urlsplit(url)
    if not base or not TWILIO_HOSTS.match(parts.hostname or ""):
        return url
    target = urlsplit(base)
    return urlunsplit((target.scheme, target.netloc, target.path + parts.path, parts.query, parts.fragment))


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # the SDK is untyped (pyproject)
    """The SDK's HTTP client, sending what is meant for Twilio's hosts to another base URL."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        return super().request(
            method, rebased(url, self.base_url), params, data, headers, auth, timeout, allow_redirects
        )


def client(settings: RestSettings) -> Client:
    """A twilio.rest.Client for these settings (no request is made until one is used)."""
    http = (
        RebasedHttpClient(settings.base_url, settings.timeout)
        if settings.base_url
        else TwilioHttpClient(timeout=settings.timeout)
    )
    return Client(settings.username, settings.password, settings.account_sid, http_client=http)


def retryable(exc: BaseException) -> bool:
    """Whether trying the same request again later may succeed."""
    if isinstance(exc, TwilioRestException):
        return bool(exc.status == 429 or exc.status >= 500)
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def reason(exc: BaseException) -> str:
    """One line for the record and the logs: Twilio's status and error code, or the
    transport's failure; never credentials (the SDK's message may hold the URL only)."""
    if isinstance(exc, TwilioRestException):
        code = f" error {exc.code}" if exc.code else ""
        return f"twilio HTTP {exc.status}{code}: {str(exc.msg)[:160]}"
    if isinstance(exc, requests.Timeout):
        return "twilio timeout"
    if isinstance(exc, requests.ConnectionError):
        return "twilio unreachable"
    return f"{type(exc).__name__}: {str(exc)[:160]}"


def call_fields(call: Any) -> dict[str, str]:
    """The few fields of a Call resource Onshore keeps (CallInstance as the SDK returns it)."""
    return {"sid": str(call.sid), "status": str(call.status)}
