"""X-Twilio-Signature: 403 and nothing written for anything Twilio did not sign."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import HMAC_SHA256, RequestValidator
from werkzeug.datastructures import MultiDict

from ivr import create_app, keys
from ivr.signature import SignatureChecker
from tests.conftest import HASH_KEY, SECONDARY, SUPPORT, TOKEN

# Twilio's published example: token 12345, this URL and these parameters.
VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

PARAMS = {
    "CallSid": "CA" + "1" * 32,
    "From": "+12025550143",
    "To": SUPPORT,
    "FromCountry": "US",
    "CallStatus": "ringing",
    "Direction": "inbound",
}


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def test_published_test_vector_is_accepted():
    assert SignatureChecker(["12345"]).is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


@pytest.mark.parametrize(
    "change",
    [
        {"Digits": "1235"},
        {"From": "+14158675300"},
        {"Extra": "1"},
    ],
)
def test_published_vector_with_a_changed_parameter_is_refused(change):
    params = {**VECTOR_PARAMS, **change}
    assert not SignatureChecker(["12345"]).is_valid(VECTOR_URL, params, VECTOR_SIGNATURE)


def test_published_vector_with_another_token_is_refused():
    assert not SignatureChecker(["54321"]).is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_secondary_token_is_accepted_during_rotation():
    assert SignatureChecker(["other", "12345"]).is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def _stream_length(redis_client) -> int:
    return redis_client.xlen(keys.EVENTS) if redis_client.exists(keys.EVENTS) else 0


@pytest.mark.parametrize(
    "case", ["tampered", "wrong token", "wrong url", "https signed", "missing header", "empty header"]
)
def test_badly_signed_voice_request_is_forbidden_and_writes_nothing(client, redis_client, case):
    url = "http://localhost/voice"
    params = dict(PARAMS)
    headers = {"X-Twilio-Signature": sign(url, params)}
    if case == "tampered":
        params["From"] = "+12025550199"
    elif case == "wrong token":
        headers["X-Twilio-Signature"] = sign(url, params, token="0" * 32)
    elif case == "wrong url":
        headers["X-Twilio-Signature"] = sign("http://localhost/voice/other", params)
    elif case == "https signed":
        headers["X-Twilio-Signature"] = sign("https://localhost/voice", params)
    elif case == "missing header":
        headers = {}
    elif case == "empty header":
        headers["X-Twilio-Signature"] = ""
    keys_before = sorted(redis_client.keys("*"))
    response = client.post(url, data=params, headers=headers)
    assert response.status_code == 403
    assert _stream_length(redis_client) == 0
    assert sorted(redis_client.keys("*")) == keys_before


def test_secondary_token_signed_call_is_answered(client, redis_client):
    url = "http://localhost/voice"
    response = client.post(url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS, SECONDARY)})
    assert response.status_code == 200
    assert _stream_length(redis_client) > 0


# Webhook Rules. Twilio's cloud cannot be reached from here, so these requests are signed as
# https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys documents it (and twilio-node's
# examples/WebhookSignatureValidation.md spells out): the string Twilio always signs (the full
# URL, then each POST name and value, names sorted), HMAC-SHA256 under the SharedKey's secret,
# base64, and X-Twilio-Webhooks-Signature-Settings naming the key and the algorithm. Written
# out here with hmac, not with the SDK, so the test holds our checker to the page.
OLD_KEY = ("webhooks_sharedkey_01old", "old-shared-key-secret")
NEW_KEY = ("webhooks_sharedkey_02new", "new-shared-key-secret")
SHARED = {OLD_KEY[0]: OLD_KEY[1].encode(), NEW_KEY[0]: NEW_KEY[1].encode()}


def shared_key_headers(
    url: str, params: dict[str, str], secret: str, key_id: str, algorithm: str = "HMAC_SHA256"
) -> dict[str, str]:
    signed = url + "".join(name + value for name, value in sorted(params.items()))
    digest = hashlib.sha256 if algorithm == "HMAC_SHA256" else hashlib.sha1
    mac = hmac.new(secret.encode(), signed.encode(), digest).digest()
    return {
        "X-Twilio-Signature": base64.b64encode(mac).decode(),
        "X-Twilio-Webhooks-Signature-Settings": f"key={key_id},algorithm={algorithm}",
    }


def checks(headers: dict[str, str], url: str = VECTOR_URL, params: dict[str, str] = VECTOR_PARAMS) -> bool:
    checker = SignatureChecker(["12345"], shared_keys=SHARED)
    return checker.is_valid(
        url, params, headers["X-Twilio-Signature"], headers.get("X-Twilio-Webhooks-Signature-Settings")
    )


@pytest.mark.parametrize("key", [OLD_KEY, NEW_KEY], ids=["old key", "new key"])
def test_a_shared_key_signature_is_accepted_with_either_key_of_a_rotation(key):
    assert checks(shared_key_headers(VECTOR_URL, VECTOR_PARAMS, key[1], key[0]))


def test_our_documented_signer_agrees_with_the_sdks():
    headers = shared_key_headers(VECTOR_URL, VECTOR_PARAMS, NEW_KEY[1], NEW_KEY[0])
    assert headers["X-Twilio-Signature"] == RequestValidator(NEW_KEY[1]).compute_signature(
        VECTOR_URL, VECTOR_PARAMS, HMAC_SHA256
    )


@pytest.mark.parametrize(
    "case",
    [
        "auth token under the header",
        "the other key's secret",
        "key not configured",
        "header dropped",
        "parameter changed",
        "sha1 claimed",
    ],
)
def test_a_shared_key_signature_is_refused_unless_the_named_key_made_it(case):
    key_id, secret = NEW_KEY
    params = dict(VECTOR_PARAMS)
    if case == "auth token under the header":  # what this repository used to accept
        secret = "12345"
    elif case == "the other key's secret":
        secret = OLD_KEY[1]
    elif case == "key not configured":
        key_id = "webhooks_sharedkey_03unknown"
    headers = shared_key_headers(VECTOR_URL, params, secret, key_id)
    if case == "header dropped":
        del headers["X-Twilio-Webhooks-Signature-Settings"]
    elif case == "parameter changed":
        params["Digits"] = "9"
    elif case == "sha1 claimed":
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key={key_id},algorithm=HMAC_SHA1"
    assert not checks(headers, params=params)


def test_a_shared_key_setting_may_sign_with_sha1_too():
    assert checks(
        shared_key_headers(VECTOR_URL, VECTOR_PARAMS, OLD_KEY[1], OLD_KEY[0], algorithm="HMAC_SHA1")
    )


def test_the_auth_token_path_is_unchanged_when_shared_keys_are_configured():
    checker = SignatureChecker(["other", "12345"], shared_keys=SHARED)
    assert checker.is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE, None)
    assert checker.is_valid(VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE, "")


def test_shared_keys_are_read_from_the_environment():
    from ivr.errors import SettingsError
    from ivr.settings import Settings

    env = {"TWILIO_WEBHOOK_SHARED_KEYS": f"{OLD_KEY[0]}:{OLD_KEY[1]}, {NEW_KEY[0]}:{NEW_KEY[1]}"}
    assert Settings.from_env(env, {"testing": True}).shared_keys() == SHARED
    with pytest.raises(SettingsError, match="TWILIO_WEBHOOK_SHARED_KEYS"):
        Settings.from_env({"TWILIO_WEBHOOK_SHARED_KEYS": "no-secret"}, {"testing": True})


@pytest.mark.parametrize(
    "path", ["/voice/step?f=support&v=1&s=bridge", "/voice/status", "/voice/wait?f=support&v=1"]
)
def test_every_webhook_route_checks_the_signature(client, redis_client, path):
    response = client.post(path, data=PARAMS, headers={"X-Twilio-Signature": "bm90IGEgc2ln"})
    assert response.status_code == 403
    assert _stream_length(redis_client) == 0


def test_behind_a_proxy_the_public_https_url_is_what_is_checked(redis_server, redis_client):
    app = create_app(
        {
            "testing": True,
            "auth_token": TOKEN,
            "caller_hash_key": HASH_KEY,
            "redis_url": redis_server.url,
            "public_base_url": "https://ivr.example.com",
        }
    )
    client = app.test_client()
    public = sign("https://ivr.example.com/voice", PARAMS)
    internal = sign("http://localhost/voice", PARAMS)
    assert client.post("/voice", data=PARAMS, headers={"X-Twilio-Signature": internal}).status_code == 403
    assert client.post("/voice", data=PARAMS, headers={"X-Twilio-Signature": public}).status_code == 200


def test_app_refuses_to_start_without_an_auth_token(monkeypatch):
    from ivr.errors import SettingsError

    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("IVR_CALLER_HASH_KEY", "k")
    with pytest.raises(SettingsError, match="TWILIO_AUTH_TOKEN"):
        create_app()


_names = st.sampled_from(["CallSid", "From", "To", "Digits", "SpeechResult", "Caller", "é"])
_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
_urls = st.sampled_from(
    [
        "https://ivr.example.com/voice",
        "https://ivr.example.com:443/voice",
        "http://127.0.0.1:8000/voice/step?f=support&v=1&s=bridge&h=Manila%7CPH",
        "http://ivr.example.com/voice?bodySHA256=abc",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    params=st.lists(st.tuples(_names, _values), max_size=6),
    url=_urls,
    signed_url=_urls,
    token=st.sampled_from(["12345", TOKEN]),
    tamper=st.booleans(),
)
def test_checker_accepts_exactly_what_the_sdk_accepts(params, url, signed_url, token, tamper):
    form = MultiDict(params)
    signature = RequestValidator(token).compute_signature(signed_url, form)
    if tamper:
        signature = signature[::-1]
    sdk = RequestValidator(token).validate(url, form, signature)
    # ours gets the posted pairs in order, as the webhooks pass them (TwilioRequest.pairs)
    assert SignatureChecker([token]).is_valid(url, params, signature) == sdk
