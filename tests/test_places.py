"""Country names as callers hear them (R2): short spoken forms, articles, the caller's language."""

from __future__ import annotations

import pytest

from ivr.places import country_name, is_country_code


@pytest.mark.parametrize(
    "code, spoken",
    [
        ("PH", "the Philippines"),
        ("IN", "India"),
        ("US", "the United States"),
        ("GB", "the United Kingdom"),
        ("NL", "the Netherlands"),
        ("AE", "the United Arab Emirates"),
        ("DO", "the Dominican Republic"),
        ("MX", "Mexico"),
        ("CZ", "Czechia"),
        ("CD", "the Democratic Republic of the Congo"),  # not CLDR's "Congo - Kinshasa"
        ("CG", "the Republic of the Congo"),  # not CLDR's "Congo - Brazzaville"
        ("HK", "Hong Kong"),  # not "Hong Kong SAR China"
    ],
)
def test_english_spoken_country_names(code, spoken):
    assert country_name(code) == spoken
    assert country_name(code, "en-US") == spoken


@pytest.mark.parametrize(
    "code, language, spoken",
    [
        ("PH", "es-MX", "Filipinas"),
        ("PH", "es", "Filipinas"),
        ("US", "es-US", "Estados Unidos"),
        ("IN", "fr-FR", "Inde"),
        ("PH", "de-DE", "Philippinen"),
        ("PH", "en-GB", "the Philippines"),
        ("PH", "EN-us", "the Philippines"),  # language tags are case-insensitive
        ("PH", "xx-YY", "the Philippines"),  # unknown language: English rather than nothing
        pytest.param("VN", "pt-PT", "Vietname"),
    ],
)
def test_country_names_in_the_flows_language(code, language, spoken):
    assert country_name(code, language) == spoken


@pytest.mark.parametrize(
    "code, expected",
    [
        ("PH", True),
        ("IN", True),
        ("US", True),
        ("XK", True),  # Kosovo: user-assigned but in common use
        ("ph", False),
        ("PHL", False),
        ("", False),
        ("XX", False),
        ("UK", False),  # the ISO code is GB
        ("001", False),
        pytest.param("ZZ", False),
        pytest.param("EU", False),
        pytest.param("UN", False),
        pytest.param("QO", False),
    ],
)
def test_is_country_code(code, expected):
    assert is_country_code(code) is expected
