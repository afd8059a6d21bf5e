"""Onshore: Twilio IVR middleware that tells callers where the agent is and offers a
transfer to an agent in the home country, with per-call evidence.

``create_app()`` is the gunicorn entry point: ``gunicorn 'ivr:create_app()'``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Flask, Redis and the twilio SDK are imported inside the functions that use them, so that
# importing a module of the package (the pure engine, the flow checker) does not load them.
if TYPE_CHECKING:
    from flask import Flask

    from ivr.breaker import State
    from ivr.evidence import Keyring
    from ivr.settings import Settings
    from ivr.store import Store

log = logging.getLogger(__name__)
TEST_HASH_KEY = "onshore-test-only-caller-hash-key"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from the environment (and, in tests, test_config)."""
    from flask import Flask

    from ivr import agent_api, metrics, operator_api, taskrouter_api, webhooks
    from ivr import store as store_module
    from ivr.breaker import Breaker
    from ivr.chores import Chore, Chores, Sweep
    from ivr.settings import Settings
    from ivr.signature import SignatureChecker
    from ivr.spool import Spool

    app = Flask(__name__)
    settings = Settings.from_env(os.environ, test_config)
    app.config["TESTING"] = settings.testing
    # Redis must run a webhook's write within 80% of the timeout, or not at all: the rest of
    # the timeout is for the reply to travel back.
    store = store_module.Store(
        store_module.connect(settings.redis_url, settings.redis_timeout),
        answer_within=settings.redis_timeout * 0.8,
        breaker=Breaker(on_change=breaker_moved),
    )
    seed_memory(store, settings)
    spool = Spool(Path(settings.spool_dir))
    keys = keyring(settings)
    onshore = webhooks.Onshore(
        settings=settings,
        store=store,
        signatures=SignatureChecker(
            [settings.auth_token, settings.auth_token_secondary],
            settings.public_base_url,
            settings.shared_keys(),
        ),
        keyring=keys,
        spool=spool,
        chores=Chores(
            [
                Chore(
                    "spool-replay", 1.0, lambda: spool.replay(store.append), due=lambda: bool(spool.pending())
                ),
                Sweep("fallback-reading", store.read_for_fallback),
            ]
        ),
        taskrouter=taskrouter_api.from_env(os.environ),
    )
    webhooks.init_app(app, onshore)
    operator_api.init_app(app, settings.report_token)
    agent_api.init_app(app, settings.agent_token, rest_client(os.environ) if settings.agent_token else None)
    metrics.init_app(app, settings.metrics_token, webhooks.ROUTES)
    return app


def rest_client(env: Mapping[str, str]) -> Any:
    """Twilio's REST client for the account in the environment, or None without one."""
    if not env.get("TWILIO_ACCOUNT_SID"):
        return None
    from ivr import twilio_rest

    return twilio_rest.client(twilio_rest.rest_settings(env))


def breaker_moved(was: State, now: State, why: str) -> None:
    """A change of this process's circuit breaker: a log line and the gauge."""
    from ivr import metrics
    from ivr import store as store_module

    store_module.breaker_moved(was, now, why)
    metrics.breaker_moved(was, now)


def keyring(settings: Settings) -> Keyring:
    """The evidence keys: the current one and, during a rotation, the old ones."""
    from ivr.evidence import Keyring

    secret = (settings.caller_hash_key or TEST_HASH_KEY).encode()
    return Keyring(settings.caller_hash_key_id, secret, settings.old_keys())


def seed_memory(store: Store, settings: Settings) -> None:
    """Give the process a configuration to fall back on before Redis ever answered."""
    from ivr.check import check_folder

    folder = Path(settings.flows_dir) if settings.flows_dir else None
    if folder is None or not folder.exists():
        return
    config, _, errors = check_folder(folder, settings.home_country)
    if errors:
        log.warning("IVR_FLOWS_DIR %s has %d problem(s); not used as a fallback", folder, len(errors))
        return
    store.memory.seed(config)
    for flow in config.flows.values():
        store.remember_flow(flow)
