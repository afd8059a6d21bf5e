"""The voices and languages Twilio accepts, so that ``ivr check`` refuses what Twilio would not play.

A flow speaks each language with one ``<Say>`` voice and listens in it with ``<Gather
language=...>``. Twilio's ``<Say>`` page (https://www.twilio.com/docs/voice/twiml/say)
warns that "using an invalid combination of voice and language may result in error and
``<Say>`` instruction failure" and sends to its Text-to-Speech page
(https://www.twilio.com/docs/voice/twiml/say/text-speech) for the voices of each language:
Amazon Polly voices as ``Polly.NAME`` (and ``Polly.NAME-Neural``, ``Polly.NAME-Generative``),
Google voices as ``Google.TAG-KIND-VARIANT``, whose name holds its own language tag, and the
basic ``man`` and ``woman``. ``<Gather>`` recognises speech only in the languages listed on
its page (https://www.twilio.com/docs/voice/twiml/gather#languagetags; Twilio warnings 13331
and 13512 for any other).

The tables are transcribed from those pages: a voice or language Twilio adds later is
refused until it is added here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Amazon Polly voices, by the language tag Twilio plays them in.
POLLY: Mapping[str, frozenset[str]] = {
    tag: frozenset(names.split())
    for tag, names in {
        "arb": "Zeina",
        "ar-AE": "Hala Zayd",
        "ca-ES": "Arlet",
        "cmn-CN": "Zhiyu",
        "cs-CZ": "Jitka",
        "cy-GB": "Gwyneth",
        "da-DK": "Naja Mads Sofie",
        "de-AT": "Hannah",
        "de-CH": "Sabrina",
        "de-DE": "Marlene Vicki Hans Daniel",
        "en-AU": "Nicole Olivia Russell",
        "en-GB": "Amy Emma Brian Arthur",
        "en-GB-WLS": "Geraint",
        "en-IE": "Niamh",
        "en-IN": "Aditi Raveena Kajal",
        "en-NZ": "Aria",
        "en-SG": "Jasmine",
        "en-US": "Danielle Gregory Ivy Joanna Kendra Kimberly Salli Joey Justin Kevin Matthew "
        "Ruth Stephen Patrick",
        "en-ZA": "Ayanda",
        "es-ES": "Conchita Lucia Enrique Sergio",
        "es-MX": "Mia Andres",
        "es-US": "Lupe Penelope Miguel Pedro",
        "fi-FI": "Suvi",
        "fr-BE": "Isabelle",
        "fr-CA": "Chantal Gabrielle Liam",
        "fr-FR": "Celine Lea Mathieu Remi",
        "hi-IN": "Aditi Kajal",
        "is-IS": "Dora Karl",
        "it-IT": "Carla Bianca Giorgio Adriano",
        "ja-JP": "Mizuki Takumi Kazuha Tomoko",
        "ko-KR": "Seoyeon",
        "nb-NO": "Liv Ida",
        "nl-BE": "Lisa",
        "nl-NL": "Laura Lotte Ruben",
        "pl-PL": "Ewa Maja Jacek Jan Ola",
        "pt-BR": "Camila Vitoria Ricardo Thiago",
        "pt-PT": "Ines Cristiano",
        "ro-RO": "Carmen",
        "ru-RU": "Tatyana Maxim",
        "sv-SE": "Astrid Elin",
        "tr-TR": "Filiz Burcu",
        "yue-CN": "Hiujin",
    }.items()
}
POLLY_KINDS = ("", "-Neural", "-Generative")
# Google voices: Google.es-US-Neural2-A, Google.en-GB-Standard-A, Google.en-US-Chirp3-HD-Aoede.
GOOGLE = re.compile(
    r"^Google\.(?P<tag>[a-z]{2,3}-[A-Z]{2})-"
    r"(?:Standard|Wavenet|Neural2|News|Studio|Polyglot|Journey|Chirp-HD|Chirp3-HD)"
    r"-[A-Za-z]+$"
)
BASIC = {
    "man": frozenset({"en-US", "en-GB", "es-ES", "fr-FR", "de-DE"}),
    "woman": frozenset({"en-US", "en-GB", "es-ES", "fr-FR", "de-DE"}),
}

# The language tags <Gather> recognises speech in.
GATHER_LANGUAGES = frozenset(
    """
af-ZA am-ET hy-AM az-AZ id-ID ms-MY bn-BD bn-IN ca-ES cs-CZ da-DK de-DE en-AU en-CA en-GH en-GB
en-IN en-IE en-KE en-NZ en-NG en-PH en-ZA en-TZ en-US es-AR es-BO es-CL es-CO es-CR es-EC es-SV
es-ES es-US es-GT es-HN es-MX es-NI es-PA es-PY es-PE es-PR es-DO es-UY es-VE eu-ES fil-PH fr-CA
fr-FR gl-ES ka-GE gu-IN hr-HR zu-ZA is-IS it-IT jv-ID kn-IN km-KH lo-LA lv-LV lt-LT hu-HU ml-IN
mr-IN nl-NL ne-NP nb-NO pl-PL pt-BR pt-PT ro-RO si-LK sk-SK sl-SI su-ID sw-TZ sw-KE fi-FI sv-SE
ta-IN ta-SG ta-LK ta-MY te-IN vi-VN tr-TR ur-PK ur-IN el-GR bg-BG ru-RU sr-RS uk-UA he-IL ar-IL
ar-JO ar-AE ar-BH ar-DZ ar-SA ar-IQ ar-KW ar-MA ar-TN ar-OM ar-PS ar-QA ar-LB ar-EG fa-IR hi-IN
th-TH ko-KR cmn-Hant-TW yue-Hant-HK ja-JP cmn-Hans-HK cmn-Hans-CN
""".split()
)


def voice_problem(voice: str, tag: str) -> str:
    """Why Twilio would not speak ``tag`` with ``voice`` ("" when it would)."""
    if voice in BASIC:
        if tag in BASIC[voice]:
            return ""
        return f"'{voice}' speaks only {', '.join(sorted(BASIC[voice]))}, not {tag}"
    google = GOOGLE.match(voice)
    if google:
        spoken = google.group("tag")
        return "" if spoken == tag else f"'{voice}' is a {spoken} voice, not one for {tag}"
    name = voice.removeprefix("Polly.")
    for suffix in POLLY_KINDS[1:]:
        name = name.removesuffix(suffix)
    if not voice.startswith("Polly.") or not any(name in names for names in POLLY.values()):
        return (
            f"'{voice}' is not a voice Twilio offers (Polly.NAME, Polly.NAME-Neural, "
            "Google.TAG-KIND-VARIANT, man, woman)"
        )
    if name in POLLY.get(tag, frozenset()):
        return ""
    speaks = sorted(t for t, names in POLLY.items() if name in names)
    return f"'{voice}' speaks {', '.join(speaks)}, not {tag}"


def language_problem(tag: str) -> str:
    """Why <Gather> would not listen in this language tag ("" when it would)."""
    if tag in GATHER_LANGUAGES:
        return ""
    near = sorted(t for t in GATHER_LANGUAGES if t.split("-")[0] == tag.split("-")[0])
    hint = f"; for this language: {', '.join(near)}" if near else ""
    return f"'{tag}' is not a language Twilio's <Gather> recognises speech in{hint}"
