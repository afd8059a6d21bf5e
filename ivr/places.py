"""Country names as a caller should hear them, from CLDR (babel).

CLDR names are built for lists ("Congo - Kinshasa", "Hong Kong SAR China"); a spoken
sentence needs the short form and, for some countries, the article ("the Philippines").
"""

from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError

# Spoken English forms where CLDR's list form would sound wrong, and names that take "the".
_SPOKEN_EN = {
    "CD": "the Democratic Republic of the Congo",
    "CG": "the Republic of the Congo",
    "HK": "Hong Kong",
    "MO": "Macao",
    "MM": "Myanmar",
    "PS": "the Palestinian Territories",
}
_WITH_ARTICLE = frozenset(
    [
        "AE",
        "BS",
        "CF",
        "CK",
        "DO",
        "FK",
        "FO",
        "GB",
        "GM",
        "KM",
        "KY",
        "MH",
        "MV",
        "NL",
        "PH",
        "SB",
        "SC",
        "TC",
        "US",
        "VG",
        "VI",
    ]
)


# CLDR territories that are not countries a center can be in.
_NOT_COUNTRIES = frozenset({"ZZ", "EU", "EZ", "UN", "QO", "XA", "XB"})


def is_country_code(code: str) -> bool:
    """True when code is an ISO 3166 alpha-2 country code CLDR knows."""
    return (
        len(code) == 2 and code.isupper() and code not in _NOT_COUNTRIES and code in Locale("en").territories
    )


@lru_cache(maxsize=1024)
def country_name(code: str, language: str = "en") -> str:
    """The country's name as spoken in a sentence, in the given language."""
    lang = language.split("-")[0].lower()
    if lang == "en":
        if code in _SPOKEN_EN:
            return _SPOKEN_EN[code]
        name = Locale("en").territories.get(code, code)
        return f"the {name}" if code in _WITH_ARTICLE else name
    for tag in (language.replace("-", "_"), lang):  # "pt-PT" before "pt"
        try:
            return str(Locale.parse(tag).territories.get(code, code))
        except (UnknownLocaleError, ValueError):
            continue
    return country_name(code, "en")


@lru_cache(maxsize=256)
def language_name(code: str, language: str = "en") -> str:
    """The name of the language with this code ("es"), in the given language ("Spanish",
    "español"), from CLDR; the code itself when CLDR does not know it."""
    for tag in (code.replace("-", "_"), code.split("-")[0]):
        try:
            name = Locale.parse(tag).get_language_name(language.split("-")[0].lower())
        except (UnknownLocaleError, ValueError):
            continue
        if name:
            return name
    return code
