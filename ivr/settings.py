"""Settings, read from the environment when the app is created (never at import)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ivr.errors import SettingsError
from ivr.places import is_country_code


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. See the README's table."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    auth_token: str = ""
    auth_token_secondary: str = ""
    public_base_url: str = ""
    home_country: str = "US"
    caller_hash_key: str = ""
    caller_hash_key_id: str = "k1"
    caller_hash_keys_old: str = ""  # "k0:secret,..." still readable during a rotation
    webhook_shared_keys: str = ""  # "id:secret,...": Webhook Rules' SharedKeys, all accepted
    spool_dir: str = "spool"
    report_token: str = ""
    agent_token: str = ""  # POST /calls/<CallSid>/domestic exists only with one (ivr.agent_api)
    archive_dir: str = ""  # day files of evidence past the hot window (ivr.archive)
    metrics_token: str = ""  # GET /metrics exists only with one
    flows_dir: str = ""
    redis_timeout: float = 0.25
    extra_parameters: str = ""  # "Name,..." Twilio sends that ivr.parameters does not list yet
    testing: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
        """Settings from environment variables, then explicit overrides (tests)."""
        settings = cls(
            redis_url=env.get("REDIS_URL", cls.redis_url),
            auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            auth_token_secondary=env.get("TWILIO_AUTH_TOKEN_SECONDARY", ""),
            public_base_url=env.get("PUBLIC_BASE_URL", ""),
            home_country=env.get("IVR_HOME_COUNTRY", "US").upper(),
            caller_hash_key=env.get("IVR_CALLER_HASH_KEY", ""),
            caller_hash_key_id=env.get("IVR_CALLER_HASH_KEY_ID", "k1"),
            caller_hash_keys_old=env.get("IVR_CALLER_HASH_KEYS_OLD", ""),
            webhook_shared_keys=env.get("TWILIO_WEBHOOK_SHARED_KEYS", ""),
            spool_dir=env.get("IVR_SPOOL_DIR", "spool"),
            report_token=env.get("IVR_REPORT_TOKEN", ""),
            agent_token=env.get("IVR_AGENT_TOKEN", ""),
            archive_dir=env.get("IVR_ARCHIVE_DIR", ""),
            metrics_token=env.get("IVR_METRICS_TOKEN", ""),
            flows_dir=env.get("IVR_FLOWS_DIR", ""),
            redis_timeout=float(env.get("IVR_REDIS_TIMEOUT", cls.redis_timeout)),
            extra_parameters=env.get("IVR_EXTRA_PARAMETERS", ""),
        )
        known = {f.name for f in fields(cls)}
        extra = {k.lower(): v for k, v in (overrides or {}).items() if k.lower() in known}
        settings = replace(settings, **extra)
        settings.validate()
        return settings

    def old_keys(self) -> dict[str, bytes]:
        """IVR_CALLER_HASH_KEYS_OLD as {key id: secret}."""
        return _keys(self.caller_hash_keys_old, "IVR_CALLER_HASH_KEYS_OLD", "k0")

    def shared_keys(self) -> dict[str, bytes]:
        """TWILIO_WEBHOOK_SHARED_KEYS as {SharedKey id: secret}."""
        return _keys(self.webhook_shared_keys, "TWILIO_WEBHOOK_SHARED_KEYS", "webhooks_sharedkey_1")

    def validate(self) -> None:
        """Refuse to start without what a live phone line needs."""
        if not is_country_code(self.home_country):
            raise SettingsError(f"IVR_HOME_COUNTRY={self.home_country!r} is not an ISO 3166 code")
        self.old_keys()
        self.shared_keys()
        if self.caller_hash_key_id in self.old_keys():
            raise SettingsError("IVR_CALLER_HASH_KEY_ID must differ from the old key ids")
        if not 0 < self.redis_timeout <= 1:
            raise SettingsError("IVR_REDIS_TIMEOUT must be between 0 and 1 second")
        for name, variable in _SECRETS.items():
            refuse_placeholder(variable, getattr(self, name))
        if self.testing:
            return
        if not self.auth_token:
            raise SettingsError("TWILIO_AUTH_TOKEN is required: without it no webhook can be checked")
        if not self.caller_hash_key:
            raise SettingsError(
                "IVR_CALLER_HASH_KEY is required: caller numbers are stored only as keyed hashes"
            )


# The settings a shipped example fills with a CHANGE-ME placeholder (deploy/).
_SECRETS = {
    "redis_url": "REDIS_URL",
    "auth_token": "TWILIO_AUTH_TOKEN",
    "auth_token_secondary": "TWILIO_AUTH_TOKEN_SECONDARY",
    "caller_hash_key": "IVR_CALLER_HASH_KEY",
    "report_token": "IVR_REPORT_TOKEN",
    "agent_token": "IVR_AGENT_TOKEN",
    "webhook_shared_keys": "TWILIO_WEBHOOK_SHARED_KEYS",
}
PLACEHOLDER = "CHANGE-ME"


def refuse_placeholder(variable: str, value: str | None) -> None:
    """A value still holding the shipped CHANGE-ME placeholder is a known password: refuse it."""
    if value and PLACEHOLDER in value:
        raise SettingsError(
            f"{variable} still holds a {PLACEHOLDER} placeholder: set a real "
            "secret (deploy/README.md, users.acl) before starting"
        )


def _keys(value: str, variable: str, example_id: str) -> dict[str, bytes]:
    """A list of "id:secret" items as {id: secret}; the secret is everything after the first colon."""
    out = {}
    for item in filter(None, (i.strip() for i in value.split(","))):
        kid, sep, secret = item.partition(":")
        if not sep or not kid or not secret:
            raise SettingsError(f"{variable} must look like '{example_id}:secret,{example_id}b:secret'")
        out[kid] = secret.encode()
    return out
