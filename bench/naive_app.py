"""The naive stack `make bench` compares Onshore with: what a first Twilio IVR looks like.

Flask, the twilio SDK's ``RequestValidator`` for the signature and ``VoiceResponse`` for
the TwiML, and redis-py with one GET (the number's configuration) and one XADD (an event)
per webhook: no evidence chain, no caller hashing, no idempotency, no fallback. Served by
gunicorn exactly as Onshore is; the signed URL is PUBLIC_BASE_URL + the path, as Onshore
reads it behind a proxy.
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Gather, VoiceResponse


def create_app() -> Flask:
    """gunicorn entry point: `gunicorn 'bench.naive_app:create_app()'`."""
    app = Flask(__name__)
    validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
    public = os.environ.get("PUBLIC_BASE_URL", "").rstrip("/")
    db = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=1)

    @app.post("/voice", defaults={"rest": ""})
    @app.post("/voice/<path:rest>")
    def voice(rest: str) -> Response:
        url = public + request.full_path.rstrip("?") if public else request.url
        if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            return Response("forbidden\n", status=403, mimetype="text/plain")
        config = db.get("naive:number:" + request.form.get("To", ""))
        db.xadd(
            "naive:events", {"call": request.form.get("CallSid", ""), "path": rest, "config": config or b""}
        )
        response = VoiceResponse()
        response.say("Thank you for calling Acme Wireless support.", voice="Polly.Joanna", language="en-US")
        gather = Gather(
            action="/voice/step?s=disclose", input="dtmf speech", num_digits=1, timeout=5, language="en-US"
        )
        gather.say(
            "Your call will be answered by our team in Manila, the Philippines. To "
            "speak with an agent in the United States, press 1 or say 'agent'.",
            voice="Polly.Joanna",
            language="en-US",
        )
        response.append(gather)
        response.redirect("/voice/step?s=disclose", method="POST")
        return Response(str(response), status=200, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
