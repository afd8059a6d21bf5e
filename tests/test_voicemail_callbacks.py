"""A voicemail's callbacks after the call, over real HTTP (gunicorn, a real redis-server):
the recordingStatusCallback (the file is there) and, with the flow's ``transcribe``, the
transcribeCallback with the text, both signed, into the call's evidence and ``ivr voicemail``.

Twilio's cloud cannot be reached here: ``ivr.caller.Phone`` plays Twilio's side and, after
the call, posts those two callbacks with the parameters Twilio documents for them
(https://www.twilio.com/docs/voice/twiml/record), signed as Twilio signs every webhook."""

from __future__ import annotations

from pathlib import Path

from ivr import metrics
from ivr.caller import ACCOUNT_SID, Caller, Phone
from ivr.vocabulary import Event
from tests.conftest import SUPPORT, TOKEN, http_transport, serving
from tests.test_domestic_e2e import PERSON, night_flows, steps

VOICEMAIL = "1,1,1,2"  # English, phone help, the US agent at the disclosure, voicemail


def transcribing(tmp_path: Path) -> Path:
    folder = night_flows(tmp_path)
    text = (folder / "acme.toml").read_text()
    assert "consent = true" in text
    (folder / "acme.toml").write_text(text.replace("consent = true", "consent = true\ntranscribe = true", 1))
    return folder


def test_the_transcript_and_the_recording_status_reach_the_evidence_and_the_list(tmp_path, capsys):
    from ivr.cli import main

    words = "please call me back about my bill"
    with serving(transcribing(tmp_path), tmp_path / "spool") as (server, gunicorn):
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        t = phone.call(Caller(SUPPORT, from_=PERSON, press=VOICEMAIL, message=words))
        record = [d for d in t.documents if "<Record " in d]
        assert len(record) == 1 and 'transcribe="true"' in record[0]
        assert 'transcribeCallback="/voice/voicemail/transcript"' in record[0]
        assert 'recordingStatusCallback="/voice/voicemail/recording"' in record[0]
        assert all(status == 200 for status in t.statuses)
        seen = dict(steps(server, t.call_sid))
        sid = seen["voicemail_left"]["recording"]
        text = seen["voicemail_transcript"]
        assert text["recording"] == sid and text["text"] == words and text["status"] == "completed"
        assert seen["voicemail_recording"]["status"] == "completed"
        # a replayed callback is one step, not two
        again = phone.post("/voice/voicemail/transcript", t.later[-1][1])
        assert again[0] == 200
        assert [s for s, _ in steps(server, t.call_sid)].count("voicemail_transcript") == 1
        assert main(["voicemail", "show", sid, "--redis-url", server.url]) == 0
        shown = capsys.readouterr().out
        assert f"transcript: {words}" in shown and "recording status: completed" in shown
        assert main(["voicemail", "list", "--redis-url", server.url]) == 0
        assert capsys.readouterr().out.rstrip().endswith("transcript")
        # nothing said: Twilio's transcription fails, and the list says so
        quiet = phone.call(Caller(SUPPORT, from_=PERSON, press=VOICEMAIL))
        quiet_sid = dict(steps(server, quiet.call_sid))["voicemail_left"]["recording"]
        assert main(["voicemail", "show", quiet_sid, "--redis-url", server.url]) == 0
        assert "transcript: failed" in capsys.readouterr().out


def test_a_forged_or_foreign_transcript_is_refused(tmp_path):
    with serving(transcribing(tmp_path), tmp_path / "spool") as (server, gunicorn):
        form = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": "CA" + "1" * 32,
            "RecordingSid": "RE" + "1" * 32,
            "TranscriptionText": "forged",
            "TranscriptionStatus": "completed",
        }
        url = f"{gunicorn.base_url}/voice/voicemail/transcript"
        status, _, _ = http_transport()(url, form, {"X-Twilio-Signature": "forged"})
        assert status == 403
        phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        assert phone.post("/voice/voicemail/transcript", {**form, "Digits": "1"})[0] == 403  # not Twilio's
        no_recording = {k: v for k, v in form.items() if k != "RecordingSid"}
        assert phone.post("/voice/voicemail/transcript", no_recording)[0] == 403
        assert phone.post("/voice/voicemail/recording", {**form, "TranscriptionText": "x"})[0] == 403
        assert not any(s.startswith("voicemail_") for s, _ in steps(server, form["CallSid"]))


def test_callback_and_voicemail_counters_have_bounded_labels():
    def value(counter, label):
        return counter.labels(label)._value.get()

    before = (
        value(metrics.CALLBACKS, "requested"),
        value(metrics.VOICEMAILS, "transcript_completed"),
        value(metrics.VOICEMAILS, "recording_other"),
    )
    metrics.count(
        [
            Event("a", "callback_requested", (("place", "3"), ("number_hash", "abc"))),
            Event("b", "voicemail_transcript", (("status", "completed"), ("text", "my card number is"))),
            Event("c", "voicemail_recording", (("status", "whatever-twilio-adds"),)),
        ]
    )
    after = (
        value(metrics.CALLBACKS, "requested"),
        value(metrics.VOICEMAILS, "transcript_completed"),
        value(metrics.VOICEMAILS, "recording_other"),
    )
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]
    labels = {s.labels.get("step") for m in metrics.VOICEMAILS.collect() for s in m.samples}
    assert "my card number is" not in str(labels) and labels <= {
        *metrics.VOICEMAIL_STEPS.values(),
        *(f"{k}_{s}" for k, known in metrics.AFTER_CALL.values() for s in (*known, "other")),
    }
