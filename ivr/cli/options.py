"""What the command line names, made usable: argument types, environment defaults, the home
country, the store at --redis-url and the evidence keys, shared by the command groups."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ivr import keyring as settings_keyring
from ivr.evidence import Keyring
from ivr.settings import Settings, refuse_placeholder
from ivr.store import Store, connect

PING_TIMEOUT = 1.0  # a hung Redis is told in a second; the commands' reads then get 5 s


def redis_url() -> str:
    """The default --redis-url: REDIS_URL, else the local Redis."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def archive_dir() -> str:
    """The default --archive: IVR_ARCHIVE_DIR, else none."""
    return os.environ.get("IVR_ARCHIVE_DIR", "")


def version(text: str) -> int:
    """A flow version as `ivr versions` shows it (v3) or bare (3)."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a version like 3 or v3")
    return int(digits)


def e164(text: str) -> str:
    """A number dialed, as Twilio posts it: E.164, with its +."""
    if not (text.startswith("+") and text[1:].isdigit() and 8 <= len(text) <= 16):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an E.164 number like +18005550100 (a + and the country code first)"
        )
    return text


def home(args: argparse.Namespace) -> str:
    """The home country: --home-country, IVR_HOME_COUNTRY, else US."""
    return (args.home_country or os.environ.get("IVR_HOME_COUNTRY") or "US").upper()


def store(args: argparse.Namespace) -> Store:
    """The store at --redis-url, once it answered a PING within a second."""
    refuse_placeholder("--redis-url", args.redis_url)
    connect(args.redis_url, timeout=PING_TIMEOUT).ping()
    return Store(connect(args.redis_url, timeout=5.0))


def keyring() -> Keyring | None:
    """The evidence keys from the environment; None (MACs unchecked) without them."""
    settings = Settings.from_env(os.environ, {"testing": True})
    return settings_keyring(settings) if settings.caller_hash_key else None


def archive_folder(args: argparse.Namespace) -> Path | None:
    """The --archive folder of older evidence, if one was named."""
    return Path(args.archive) if args.archive else None
