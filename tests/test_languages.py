"""English and Spanish: prompts per language, localized places, voices and transfer words,
and `ivr check` naming every missing translation (file, flow, state, field, language).

The disclosure and the offer stay one prompt in the caller's language (R8); the caller may
ask for a domestic agent in any language the flow offers (R7, R9).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ivr.check import check_folder
from ivr.engine import begin, hold_offer, resume, safe_answer
from ivr.errors import FlowError
from ivr.flow import Config, Flow
from ivr.twiml import render, wait_url
from ivr.vocabulary import AFTER_CAUTION, Ask, Connect, Facts, Heard, Silence, Speak, Turn
from tests.twiml_check import assert_valid_twiml

NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # a Wednesday; every center below is open

CENTERS = """\
[centers.manila]
city = "Manila"
country = "PH"
timezone = "Asia/Manila"
connect = { queue = "acme-manila" }

[centers.bangalore]
city = "Bangalore"
country = "IN"
timezone = "Asia/Kolkata"
connect = { queue = "acme-bangalore" }

[centers.scranton]
city = "Scranton"
country = "US"
timezone = "America/New_York"
connect = { number = "+15705550123" }
"""

NUMBERS = """\
[numbers."+18005550100"]
flow = "line"

[numbers."+18005550111"]
flow = "line"
language = "es"
"""

LINE = """\
[flows.line]
start = "language"
domestic = "scranton"
languages = ["en-US", "es-US"]
voices = { en = "Polly.Joanna", es = "Polly.Lupe" }

[flows.line.states.language]
type = "language"
prompt = { en = "For English, press 1.", es = "Para español, oprima 2." }
options = { "1" = "en", "2" = "es" }
words = { english = "en", "español" = "es" }
retries = 0
next = "greet"

[flows.line.states.greet]
type = "say"
text = { en = "Thank you for calling.", es = "Gracias por llamar." }
next = "menu"

[flows.line.states.menu]
type = "menu"
prompt.en = "For billing, press 2 or say billing."
prompt.es = "Para facturación, oprima 2 o diga facturación."
options = { "2" = "route" }
words = { en = { billing = "route" }, es = { "facturación" = "route" } }
no_input = "route"
invalid = "route"

[flows.line.states.route]
type = "route"
centers = ["manila", "bangalore", "scranton"]
next = "disclose"
closed = "sorry"

[flows.line.states.disclose]
type = "disclose"
text = { en = "Your agent is in {city}, {country}.", es = "Su agente está en {city}, {country}." }
offer.en = "For an agent in {home_country}, press {key} or say 'agent'."
offer.es = "Para un agente en {home_country}, oprima {key} o diga 'agente'."
next = "bridge"

[flows.line.states.bridge]
type = "bridge"
on_failure = "overflow"

[flows.line.states.overflow]
type = "overflow"
centers = ["bangalore", "scranton"]
next = "disclose"
exhausted = "sorry"

[flows.line.states.sorry]
type = "hangup"
text = { en = "Sorry.", es = "Lo sentimos." }
"""


def edit(text: str, old: str, new: str) -> str:
    assert old in text, f"test setup: {old!r} not in the base file"
    return text.replace(old, new, 1)


def check(folder: Path, line: str = LINE, numbers: str = NUMBERS) -> tuple[Config, list[FlowError]]:
    folder.mkdir(exist_ok=True)
    for name, text in (("centers", CENTERS), ("numbers", numbers), ("line", line)):
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    config, _, errors = check_folder(folder, "US")
    return config, errors


def errors_at(errors: list[FlowError], where: str) -> dict[str, str]:
    """field -> message of the errors at one place."""
    return {e.field: e.message for e in errors if e.where == where}


@pytest.fixture
def line(tmp_path) -> Flow:
    config, errors = check(tmp_path)
    assert errors == []
    return config.flows["line"]


@pytest.fixture
def centers(tmp_path) -> dict:
    config, _ = check(tmp_path / "centers")
    return dict(config.centers)


def facts(centers, language: str = "", **kw) -> Facts:
    return Facts("CA" + "1" * 32, NOW, centers, "US", language=language, **kw)


def asks(turn: Turn) -> list[Ask]:
    return [a for a in turn.actions if isinstance(a, Ask)]


def disclosed(flow: Flow, centers, language: str) -> Turn:
    """A call in this language through the language menu and the main menu to the disclosure."""
    f = facts(centers, language)
    turn = resume(flow, begin(flow, f).call, Silence(), f)  # keep the number's language
    turn = resume(flow, turn.call, Heard(digits="2"), f)  # billing
    assert turn.call.state == "disclose", turn.actions
    return turn


# --- ivr check: every prompt in every language -------------------------------------------------


def test_bilingual_flow_passes_ivr_check(line):
    assert [lang.tag for lang in line.languages] == ["en-US", "es-US"]
    assert [lang.voice for lang in line.languages] == ["Polly.Joanna", "Polly.Lupe"]
    assert line.languages[1].words == ("agente", "estados unidos", "américa")


def test_missing_spanish_prompt_is_refused_naming_file_flow_state_field_and_language(tmp_path):
    _, errors = check(
        tmp_path, line=edit(LINE, 'prompt.es = "Para facturación, oprima 2 o diga facturación."\n', "")
    )

    assert len(errors) == 1, errors
    error = errors[0]
    assert (error.file, error.where, error.field) == (
        str(tmp_path / "line.toml"),
        "flow 'line' state 'menu'",
        "prompt.es",
    )
    assert str(error) == (
        f"{tmp_path / 'line.toml'}: flow 'line' state 'menu' field 'prompt.es': "
        "is missing; the flow offers en, es"
    )


def test_plain_string_in_a_bilingual_flow_is_the_default_language_only(tmp_path):
    _, errors = check(
        tmp_path, line=edit(LINE, 'text = { en = "Sorry.", es = "Lo sentimos." }', 'text = "Sorry."')
    )

    assert errors_at(errors, "flow 'line' state 'sorry'") == {"text.es": "is missing; the flow offers en, es"}


def test_each_missing_translation_is_named(tmp_path):
    line = edit(
        LINE,
        'text = { en = "Thank you for calling.", es = "Gracias por llamar." }',
        'text = { es = "Gracias por llamar." }',
    )
    line = edit(line, ', es = "Su agente está en {city}, {country}." }', " }")
    line = edit(line, ', es = { "facturación" = "route" } }', " }")
    _, errors = check(tmp_path, line=line)

    assert {(e.where, e.field) for e in errors} == {
        ("flow 'line' state 'greet'", "text.en"),
        ("flow 'line' state 'disclose'", "text.es"),
        ("flow 'line' state 'menu'", "words.es"),
    }


def test_spanish_disclosure_without_the_country_is_refused(tmp_path):
    _, errors = check(
        tmp_path, line=edit(LINE, "Su agente está en {city}, {country}.", "Su agente está en {city}.")
    )

    assert errors_at(errors, "flow 'line' state 'disclose'") == {
        "text.es": "must name the agent's {city} and {country} (rule set us-2025)"
    }


def test_text_in_a_language_the_flow_does_not_offer_is_refused(tmp_path):
    _, errors = check(
        tmp_path,
        line=edit(
            LINE,
            'text = { en = "Sorry.", es = "Lo sentimos." }',
            'text = { en = "Sorry.", es = "Lo sentimos.", fr = "Désolé." }',
        ),
    )

    assert errors_at(errors, "flow 'line' state 'sorry'") == {
        "text.fr": "is not a language of this flow (en, es)"
    }


def test_language_without_built_in_texts_needs_them_all(tmp_path):
    _, errors = check(
        tmp_path, line=edit(LINE, 'languages = ["en-US", "es-US"]', 'languages = ["en-US", "es-US", "fr-FR"]')
    )

    flow_fields = errors_at(errors, "flow 'line'")
    assert flow_fields["transfer_words.fr"].startswith("is missing")
    assert {"cautious_text.fr", "unavailable_text.fr", "hold_offer.fr"} <= set(flow_fields)
    assert "text.fr" in errors_at(errors, "flow 'line' state 'disclose'")


def test_operator_transfer_words_replace_the_defaults(tmp_path):
    config, errors = check(
        tmp_path,
        line=edit(LINE, "languages = [", 'transfer_words = { es = ["agente", "operadora"] }\nlanguages = ['),
    )

    assert errors == []
    flow = config.flows["line"]
    assert flow.languages[1].words == ("agente", "operadora")
    assert flow.languages[0].words == ("agent", "united states", "america")


@pytest.mark.parametrize(
    "old, new, where, field, message",
    [
        (
            'languages = ["en-US", "es-US"]',
            'languages = ["en-US", "es-MX"]\nlanguage = "en-US"',
            "flow 'line'",
            "languages",
            "give language (one) or languages (a list), not both",
        ),
        (
            'languages = ["en-US", "es-US"]',
            'languages = ["en-US", "en-GB"]',
            "flow 'line'",
            "languages",
            "offers 'en' twice; give one tag per language",
        ),
        (
            'languages = ["en-US", "es-US"]',
            'languages = ["en-US", "Spanish"]',
            "flow 'line'",
            "languages",
            "'Spanish' is not a language tag like en-US",
        ),
        (
            'voices = { en = "Polly.Joanna", es = "Polly.Lupe" }',
            'voice = "Polly.Joanna"',
            "flow 'line'",
            "voice",
            'is for a one-language flow; give voices = { en = "...", es = "..." }',
        ),
        (
            'voices = { en = "Polly.Joanna", es = "Polly.Lupe" }',
            'voices = { en = "Polly.Joanna", es = "Polly.Lupe\\u000b" }',
            "flow 'line'",
            "voices.es",
            "'Polly.Lupe\\x0b' is not a voice name like Polly.Lupe",
        ),
        (
            'options = { "1" = "en", "2" = "es" }',
            'options = { "1" = "en", "2" = "fr" }',
            "flow 'line' state 'language'",
            "options.2",
            "'fr' is not a language of this flow (en, es)",
        ),
    ],
)
def test_bad_language_settings_are_refused(tmp_path, old, new, where, field, message):
    _, errors = check(tmp_path, line=edit(LINE, old, new))

    assert errors_at(errors, where).get(field) == message, errors


# Twilio's <Say> fails a voice that does not speak the language; <Gather> listens only in
# the languages its page lists (ivr/voices.py transcribes both).
VOICES = 'voices = { en = "Polly.Joanna", es = "Polly.Lupe" }'


@pytest.mark.parametrize(
    "old, new, field, message",
    [
        (
            VOICES,
            'voices = { en = "Polly.Lupe", es = "Polly.Lupe" }',
            "voices.en",
            "'Polly.Lupe' speaks es-US, not en-US",
        ),
        (
            VOICES,
            'voices = { en = "Polly.Joanna", es = "Polly.Mia" }',
            "voices.es",
            "'Polly.Mia' speaks es-MX, not es-US",
        ),
        (
            VOICES,
            'voices = { en = "Google.en-GB-Standard-A", es = "Polly.Lupe" }',
            "voices.en",
            "'Google.en-GB-Standard-A' is a en-GB voice, not one for en-US",
        ),
        (
            VOICES,
            'voices = { en = "Polly.Robot", es = "Polly.Lupe" }',
            "voices.en",
            "'Polly.Robot' is not a voice Twilio offers (Polly.NAME, Polly.NAME-Neural, "
            "Google.TAG-KIND-VARIANT, man, woman)",
        ),
        (
            VOICES,
            'voices = { en = "man", es = "man" }',
            "voices.es",
            "'man' speaks only de-DE, en-GB, en-US, es-ES, fr-FR, not es-US",
        ),
        (
            'languages = ["en-US", "es-US"]',
            'languages = ["en-US", "es-XX"]',
            "languages[1]",
            "'es-XX' is not a language Twilio's <Gather> recognises speech in; for this language: "
            "es-AR, es-BO, es-CL, es-CO, es-CR, es-DO, es-EC, es-ES, es-GT, es-HN, es-MX, es-NI, "
            "es-PA, es-PE, es-PR, es-PY, es-SV, es-US, es-UY, es-VE",
        ),
        (
            'languages = ["en-US", "es-US"]\n' + VOICES,
            'language = "en"\nvoice = "Polly.Joanna"',
            "language",
            "'en' is not a language Twilio's <Gather> recognises speech in; for this "
            "language: en-AU, en-CA, en-GB, en-GH, en-IE, en-IN, en-KE, en-NG, en-NZ, en-PH, en-TZ, "
            "en-US, en-ZA",
        ),
        (
            'languages = ["en-US", "es-US"]\n' + VOICES,
            'language = "en-GB"\nvoice = "Polly.Joanna"',
            "voice",
            "'Polly.Joanna' speaks en-US, not en-GB",
        ),
    ],
)
def test_voice_and_language_twilio_would_refuse_are_refused(tmp_path, old, new, field, message):
    _, errors = check(tmp_path, line=edit(LINE, old, new))

    assert errors_at(errors, "flow 'line'").get(field) == message, errors


@pytest.mark.parametrize(
    "voices",
    [
        'voices = { en = "Polly.Joanna-Neural", es = "Polly.Lupe-Generative" }',
        'voices = { en = "Google.en-US-Neural2-F", es = "Google.es-US-Chirp3-HD-Aoede" }',
        'voices = { en = "woman", es = "Polly.Miguel" }',
    ],
)
def test_voices_twilio_offers_for_the_language_pass(tmp_path, voices):
    _, errors = check(tmp_path, line=edit(LINE, VOICES, voices))

    assert errors_at(errors, "flow 'line'") == {}, errors


def test_number_starting_in_a_language_its_flow_lacks_is_refused(tmp_path):
    _, errors = check(tmp_path, numbers=edit(NUMBERS, 'language = "es"', 'language = "fr"'))

    assert errors_at(errors, "number '+18005550111'") == {
        "language": "'fr' is not a language of flow 'line' (en, es)"
    }


# --- the engine speaks the call's language ------------------------------------------------------


@pytest.mark.parametrize(
    "language, greeting, tag, voice",
    [
        ("", "Thank you for calling.", "en-US", "Polly.Joanna"),
        ("es", "Gracias por llamar.", "es-US", "Polly.Lupe"),
    ],
)
def test_the_numbers_language_is_the_calls_first_language(line, centers, language, greeting, tag, voice):
    f = facts(centers, language)
    turn = resume(line, begin(line, f).call, Silence(), f)  # the language menu: nothing chosen

    assert turn.actions[0] == Speak(greeting, tag, voice)
    assert turn.call.language == language
    assert [e.fields for e in turn.events if e.step == "language"] == [
        (("state", "language"), ("language", language or "en"), ("input", "silence"))
    ]


@pytest.mark.parametrize(
    "reply, chosen",
    [
        (Heard(digits="2"), "es"),
        (Heard(speech="Español, por favor"), "es"),
        (Heard(digits="1"), ""),
        (Heard(speech="English"), ""),
    ],
)
def test_language_menu_sets_the_calls_language(line, centers, reply, chosen):
    f = facts(centers)
    turn = resume(line, begin(line, f).call, reply, f)

    assert turn.call.language == chosen
    assert turn.call.state == "menu"


def test_language_menu_speaks_each_line_in_its_own_language_the_calls_first(line, centers):
    ask = asks(begin(line, facts(centers, "es")))[0]

    assert (ask.text, ask.language, ask.voice) == ("Para español, oprima 2.", "es-US", "Polly.Lupe")
    assert ask.also == (Speak("For English, press 1.", "en-US", "Polly.Joanna"),)
    assert ask.hints == ("english", "español")
    says = assert_valid_twiml(render(tuple([ask]))).find("Gather").findall("Say")
    assert [(s.text, s.get("language"), s.get("voice")) for s in says] == [
        ("Para español, oprima 2.", "es-US", "Polly.Lupe"),
        ("For English, press 1.", "en-US", "Polly.Joanna"),
    ]


@pytest.mark.parametrize(
    "language, center, expected",
    [
        (
            "es",
            "manila",
            "Su agente está en Manila, Filipinas. "
            "Para un agente en Estados Unidos, oprima 1 o diga 'agente'.",
        ),
        (
            "es",
            "bangalore",
            "Su agente está en Bangalore, India. Para un agente en Estados Unidos, oprima 1 o diga 'agente'.",
        ),
        (
            "",
            "manila",
            "Your agent is in Manila, the Philippines. "
            "For an agent in the United States, press 1 or say 'agent'.",
        ),
    ],
)
def test_disclosure_and_offer_are_heard_in_the_callers_language(line, centers, language, center, expected):
    only = {k: v for k, v in centers.items() if k in (center, "scranton")}
    turn = disclosed(line, only, language)
    ask = asks(turn)[0]
    location = turn.actions[turn.actions.index(ask) - 1]

    assert isinstance(location, Speak)
    assert f"{location.text} {ask.text}" == expected
    assert ask.language == location.language == ("es-US" if language else "en-US")
    assert ask.key == "1"
    gather = assert_valid_twiml(render((ask,))).find("Gather")
    assert gather.get("language") == ask.language


def test_spanish_disclosure_hints_spanish_words_first(line, centers):
    ask = asks(disclosed(line, centers, "es"))[0]

    assert ask.hints == ("agente", "estados unidos", "américa", "agent", "united states", "america")


@pytest.mark.parametrize(
    "language, speech",
    [
        ("es", "agente"),
        ("es", "Estados Unidos, por favor"),
        ("es", "America"),
        ("es", "agent"),  # any language the flow offers
        ("", "agente"),
    ],
)
def test_transfer_words_of_every_language_are_heard(line, centers, language, speech):
    turn = disclosed(line, centers, language)
    turn = resume(line, turn.call, Heard(speech=speech), facts(centers, language))

    connect = [a for a in turn.actions if isinstance(a, Connect)][0]
    assert (connect.center, connect.domestic) == ("scranton", True)
    assert ("language", "es-US" if language else "en-US") in connect.attributes


def test_evidence_records_the_disclosure_in_the_language_it_was_spoken(line, centers):
    turn = disclosed(line, centers, "es")

    [event] = [dict(e.fields) for e in turn.events if e.step == "disclosed"]
    assert event["language"] == "es-US"
    assert event["text"] == "Su agente está en Manila, Filipinas."


def test_cautious_disclosure_is_in_the_callers_language(line, centers):
    flow = replace(line, on_lookup_failure="cautious")
    call = disclosed(flow, centers, "es").call
    turn = safe_answer(flow, call, facts(centers, fresh=False), "test")

    ask = asks(turn)[0]
    assert ask.text == (
        "Su llamada puede ser atendida por un agente fuera de Estados Unidos. "
        "Para hablar con un agente en Estados Unidos, oprima 1 o diga 'agente'."
    )
    assert (ask.language, turn.call.state) == ("es-US", AFTER_CAUTION)


def test_unavailable_text_is_in_the_callers_language(line):
    call = begin(line, facts({})).call._replace(language="es")
    turn = safe_answer(line, call, facts({}), "test")

    assert turn.actions[0] == Speak(
        "Lo sentimos, ningún agente puede atender su llamada ahora. Por favor, llame más tarde.",
        "es-US",
        "Polly.Lupe",
    )


@pytest.mark.parametrize(
    "language, expected",
    [
        (
            "es",
            Speak(
                "Para hablar con un agente en Estados Unidos, oprima 1 en cualquier momento.",
                "es-US",
                "Polly.Lupe",
            ),
        ),
        (
            "",
            Speak(
                "To speak with an agent in the United States, press 1 at any time.", "en-US", "Polly.Joanna"
            ),
        ),
    ],
)
def test_hold_offer_is_in_the_callers_language(line, centers, language, expected):
    assert hold_offer(line, facts(centers), language) == expected


def test_the_hold_url_carries_the_calls_language(line, centers):
    turn = resume(line, disclosed(line, centers, "es").call, Silence(), facts(centers, "es"))

    connect = [a for a in turn.actions if isinstance(a, Connect)][0]
    assert wait_url(connect.then) == "/voice/wait?f=line&v=0&c=manila&n=4&s=bridge&l=es"
    enqueue = assert_valid_twiml(render((connect,))).find("Enqueue")
    assert enqueue.get("waitUrl") == "/voice/wait?f=line&v=0&c=manila&n=4&s=bridge&l=es"
