"""The words a caller hears: a flow's templates filled in the call's language, with the
center's city and country as that language says them ("Filipinas"). Pure: no I/O."""

from __future__ import annotations

from ivr.flow import Center, Flow, Text, translation
from ivr.places import country_name
from ivr.vocabulary import Facts, Speak


def fill(
    template: Text, flow: Flow, facts: Facts, center: Center | None, language: str = "", **more: object
) -> str:
    """The template in the language with this code (default: the flow's), with the center's
    city and country as that language says them (and ``more`` placeholders, on hold)."""
    lang = flow.speaking(language)
    text = translation(template, lang.code, flow.codes[0]) or translation(
        template, flow.codes[0], flow.codes[0]
    )
    return text.format(
        city=center.city if center else "",
        country=country_name(center.country, lang.tag) if center else "",
        center=center.name if center else "",
        home_country=country_name(facts.home, lang.tag),
        key=flow.transfer_key,
        **more,
    )


def spoken(flow: Flow, facts: Facts, template: Text, language: str, center: Center | None = None) -> Speak:
    """A template as a caller hears it in a language (its code): its words, tag and voice."""
    lang = flow.speaking(language)
    return Speak(fill(template, flow, facts, center, lang.code), lang.tag, lang.voice)


# "A, B, or C" in each language a built-in text speaks; another language lists with commas.
_OR = {"en": " or ", "es": " o "}


def sites_named(center: Center, facts: Facts, tag: str) -> str:
    """The sites of a shared queue or workflow, each as its city and country in this
    language: "Manila, the Philippines, or Bangalore, India"."""
    places = [
        f"{site.city}, {country_name(site.country, tag)}"
        for site in (facts.centers.get(s) for s in center.target.sites)
        if site is not None
    ]
    if len(places) < 2:
        return "".join(places)
    word = _OR.get(tag.split("-")[0].lower(), ", ")
    serial = "," if len(places) > 2 and word == " or " else ""
    return ", ".join(places[:-1]) + serial + word + places[-1]
