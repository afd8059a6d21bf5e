"""The speed benchmark's floor: a bare Flask app answering every POST /voice... with constant TwiML.

Served by gunicorn exactly as Onshore is (same deploy/gunicorn.conf.py, same flags), so the
ratio Onshore/baseline isolates what Onshore itself costs per webhook: signature check,
Redis lookup, engine, evidence, rendering. The document is a real Onshore answer for the
support line, so both servers write responses of about the same size.
"""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Say language="en-US" voice="Polly.Joanna">Thank you for calling Acme Wireless support.</Say>'
    '<Gather action="/voice/step?f=support&amp;v=1&amp;s=disclose&amp;c=manila&amp;t=manila'
    '&amp;h=Manila%7CPH" hints="agent, united states, america" input="dtmf speech" '
    'language="en-US" method="POST" numDigits="1" speechTimeout="auto" timeout="5">'
    '<Say language="en-US" voice="Polly.Joanna">Your call will be answered by our team in '
    "Manila, the Philippines. To speak with an agent in the United States, press 1 or say "
    "'agent'.</Say></Gather>"
    '<Redirect method="POST">/voice/step?f=support&amp;v=1&amp;s=disclose&amp;c=manila'
    "&amp;t=manila&amp;h=Manila%7CPH</Redirect></Response>"
)


def create_app() -> Flask:
    """gunicorn entry point: `gunicorn 'bench.baseline_app:create_app()'`."""
    app = Flask(__name__)

    @app.post("/voice", defaults={"rest": ""})
    @app.post("/voice/<path:rest>")  # every webhook of a call gets the same document
    def voice(rest: str) -> Response:  # noqa: ARG001 - the route's variable
        return Response(TWIML, status=200, mimetype="text/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok\n", mimetype="text/plain")

    return app
