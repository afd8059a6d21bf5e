"""The law as configuration: the rule sets a line's calls follow (plain data, no I/O).

The bills differ (``/work/shared/CONTEXT.md``, R1..R20): the older ones ask for the agent's
physical location at the beginning of each call and a transfer on request; the 2025 bill
wants the offer inside the disclosure, a transfer "immediately" to a human, and AI or
virtual agents to say what they are. New Jersey's Call Center Jobs Act (2020), the one that
is law, asks for reports and no caller disclosure. A ``[policy]`` names the rule set its
numbers follow (``rules = "us-2025"``, the default), and a number may name its own
(``rules = ["us-2019", "nj-2020"]``); ``ivr check`` proves the requirements of each line's
rule sets, and each call's evidence records them with their versions.

Onshore's own guarantee holds under every rule set: no bridge offshore before the caller
heard where the agent sits and the offer of an agent at home, and the domestic request
stays live. A rule set adds to that; it never takes away. A line that names several rule
sets follows all of them: the strictest parameter of each kind wins (``combined``).

A rule set is versioned: a change to what a set asks (a bill amended in committee, a
reading corrected) is a new version, and calls recorded under the old one keep saying so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Timing = Literal["before-bridge", "call-start"]
Report = Literal["ftc-certification", "dol-offshore-share", "nj-volume"]

DEFAULT = "us-2025"
# How early a disclosure must come, loosest first: before the bridge to the agent, or at the
# beginning of the call, before any menu (a language choice may come first: the caller must
# understand the disclosure).
TIMINGS: tuple[Timing, ...] = ("before-bridge", "call-start")
# What each requirement is, as the tables and reports name it (CONTEXT.md).
REQUIREMENTS: Mapping[str, str] = {
    "R1": "disclose the agent's physical location at the beginning of each call",
    "R2": "no fixed wording: the operator's own sentence naming the place",
    "R3": "no disclosure due when every agent on the call is in the home country",
    "R4": "a new disclosure when the call moves to another site",
    "R5": "exempt: the caller knowingly called a foreign business",
    "R6": "exempt: emergency services, never delayed",
    "R7": "on request, a transfer to an agent in the home country",
    "R8": "the disclosure itself offers the transfer, immediately, to a human",
    "R9": "automated agents say so, and 'agent' reaches a human at home",
    "R11": "the caller's country as Twilio knows it, 'unknown' rather than a guess",
    "R12": "a yearly certification of compliance to the FTC",
    "R17": "notice before moving 30% or more of call volume abroad",
    "R19": "lines under a federal contract never leave the home country",
    "R20": "New Jersey: 65% of NJ-originating volume answered in New Jersey",
}


@dataclass(frozen=True)
class RuleSet:
    """One rule set: which requirements apply, with what parameters, and where from.

    ``place``: the placeholders every disclosure must name ("city" alone, or "city" and
    "country"); ``offer_in_disclosure``: the offer must itself say how to reach an agent
    at home (the transfer key) in every language (R8); ``timing``: how early the disclosure
    comes; ``automated_notice``: an automated agent needs its notice first (R9);
    ``reports``: the reports the set asks for.
    """

    name: str
    version: int
    title: str
    bills: tuple[str, ...]
    requirements: tuple[str, ...]
    place: tuple[str, ...] = ("city", "country")
    offer_in_disclosure: bool = False
    timing: Timing = "before-bridge"
    automated_notice: bool = False
    reports: tuple[Report, ...] = ()
    source: str = ""  # where the table's reading of the bill comes from

    @property
    def label(self) -> str:
        """The name and version as evidence and reports carry it: "us-2025:1"."""
        return f"{self.name}:{self.version}"

    @property
    def parts(self) -> tuple[str, ...]:
        """The names a combined rule set was made of (itself for a shipped one)."""
        return tuple(self.name.split("+"))


RULE_SETS: Mapping[str, RuleSet] = {
    rs.name: rs
    for rs in (
        RuleSet(
            "us-2025",
            1,
            "Keep Call Centers in America Act of 2025",
            ("S. 2495", "H.R. 4954"),
            ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R11", "R12", "R17", "R19"),
            place=("city", "country"),
            offer_in_disclosure=True,
            automated_notice=True,
            reports=("ftc-certification", "dol-offshore-share"),
            source="CRS summary of S. 2495 (119th Congress): at the beginning of a customer "
            "service communication the agent discloses their location and, when outside the "
            "United States, that the consumer may ask for an immediate transfer to an agent in "
            "the United States; AI use is disclosed with the same right to a human; annual "
            "certification to the FTC; call center work under federal contracts stays in the "
            "United States; notice before relocating 30% or more of call volume",
        ),
        RuleSet(
            "us-2019",
            1,
            "United States Call Center Worker and Consumer Protection Act of 2019",
            ("S. 1792",),
            ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R11", "R17"),
            place=("city", "country"),
            reports=("dol-offshore-share",),
            source="S. 1792 (116th Congress) as introduced: disclosure of the physical location "
            "of agents in customer service communications, a transfer on request, the list of "
            "employers that relocate or contract call center work overseas; the place read as "
            "H.R. 4932's 'city and State or country'",
        ),
        RuleSet(
            "us-2013",
            1,
            "United States Call Center Worker and Consumer Protection Act of 2013",
            ("S. 1565", "H.R. 2909"),
            ("R1", "R2", "R3", "R4", "R5", "R6", "R7", "R11", "R17"),
            place=("city",),
            reports=("dol-offshore-share",),
            source="CRS summary of S. 1565 (113th Congress): each agent discloses their "
            "physical location at the beginning of each communication unless all are in the "
            "United States; exempt when the consumer knows the agent is abroad and for "
            "emergency services; upon request, a transfer to a call center in the United "
            "States; 120 days' notice before relocating a call center; a physical location "
            "read as the city alone",
        ),
        RuleSet(
            "nj-2020",
            1,
            "New Jersey Call Center Jobs Act",
            ("New Jersey Call Center Jobs Act (2020)",),
            ("R20",),
            place=("city", "country"),  # no disclosure in the act: Onshore's own guarantee
            reports=("nj-volume",),
            source="CONTEXT.md: New Jersey's act (2020) is law, with reporting duties and no "
            "caller disclosure; R20's 65% of NJ-originating volume answered in New Jersey",
        ),
    )
}


class RuleSetError(ValueError):
    """A name that is not a shipped rule set, or a list that cannot be combined."""


def named(value: object) -> tuple[str, ...]:
    """The rule-set names a ``rules`` field gives: one name or a list of them; raises
    RuleSetError naming what is wrong."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise RuleSetError(f"must be a rule set's name or a list of them ({', '.join(RULE_SETS)})")
    unknown = [n for n in names if n not in RULE_SETS]
    if unknown:
        raise RuleSetError(f"'{unknown[0]}' is not a rule set; known: {', '.join(RULE_SETS)}")
    federal = list(dict.fromkeys(n for n in names if n.startswith("us-")))
    if len(federal) > 1:
        raise RuleSetError(f"names {' and '.join(federal)}: a line follows one federal rule set")
    return tuple(dict.fromkeys(names))


def combined(names: Iterable[str]) -> RuleSet:
    """The rule set a line follows when it names several: every requirement of each, and
    the strictest parameter of each kind. One name is that rule set itself."""
    sets = [RULE_SETS[n] for n in dict.fromkeys(names)] or [RULE_SETS[DEFAULT]]
    if len(sets) == 1:
        return sets[0]
    return RuleSet(
        "+".join(s.name for s in sets),
        0,
        " and ".join(s.title for s in sets),
        tuple(b for s in sets for b in s.bills),
        tuple(sorted({r for s in sets for r in s.requirements}, key=lambda r: int(r[1:]))),
        place=tuple(dict.fromkeys(p for s in sets for p in s.place)),
        offer_in_disclosure=any(s.offer_in_disclosure for s in sets),
        timing=max((s.timing for s in sets), key=TIMINGS.index),
        automated_notice=any(s.automated_notice for s in sets),
        reports=tuple(dict.fromkeys(r for s in sets for r in s.reports)),
    )


def labels(names: Iterable[str]) -> str:
    """The rule sets with their versions as evidence records them: "us-2019:1,nj-2020:1"."""
    return ",".join(RULE_SETS[n].label for n in names)


def stamped(number: Mapping[str, Any], policy_rules: object) -> dict[str, Any]:
    """A [numbers] table as ``ivr load`` publishes it: with the rule sets in force written
    in (its own, else the policy's, else the default), so that a webhook, which reads the
    number and never the policy, records what its call follows. The tables were checked."""
    own = number.get("rules")
    given = named(own) if own else named(policy_rules) if policy_rules else ()
    return {**number, "rules": list(in_force(given, ()))}


def in_force(number_rules: tuple[str, ...], policy_rules: tuple[str, ...]) -> tuple[str, ...]:
    """The rule sets a number's calls follow: its own, else the policy's, else the default."""
    return number_rules or policy_rules or (DEFAULT,)
