"""Section 10 (R12): the certification summary per rule set in force. Pure.

A yearly certification to the FTC says a company did what its rule set asks. Per rule set
recorded in the calls' evidence (``received.rules``, with its version), this lists each
requirement the set applies (``ivr.rulesets``) and what the record of those calls shows for
it, counted by the same figures as the rest of the report (``Totals`` run over those calls
only). Requirements that hold of the configuration, not of each call (the wording, R2),
say so: `ivr check` proved them before the configuration could be published.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.report.figures import Certification, Evidence, Report
from ivr.rulesets import REQUIREMENTS, RULE_SETS


@dataclass
class Extra:
    """What the rest of the report does not count, per rule set."""

    bots: int = 0  # hand-offs to an automated agent
    bot_notices: int = 0  # ... after the notice
    bot_handoffs: int = 0  # sessions handed back to a human
    home_only_calls: int = 0
    home_only_abroad: int = 0  # bridges abroad on home_only lines: must be 0
    refused_abroad: int = 0  # centers abroad refused for them


def certify(label: str, r: Report, x: Extra) -> Certification:
    """The certification summary of the calls recorded under one rule-set label
    ("us-2019:1,nj-2020:1"; "" for calls recorded before rule sets were)."""
    names = [part.split(":")[0] for part in label.split(",") if part]
    known = [RULE_SETS[n] for n in names if n in RULE_SETS]
    if not known:
        return Certification(
            label or "(not recorded)", "calls recorded before rule sets", "", r.volume.calls_received
        )
    applied = sorted({req for rs in known for req in rs.requirements}, key=lambda req: int(req[1:]))
    d, o, t, e, nj = r.disclosure, r.offer, r.transfers, r.exemptions, r.new_jersey
    shows: dict[str, tuple[str, int | None, int | None]] = {
        "R1": (
            "offshore bridges after a disclosure of their city and country",
            d.covered,
            d.offshore_bridges,
        ),
        "R2": ("every disclosure names the place in the operator's words: proven by ivr check", None, None),
        "R3": (
            "calls bridged at home, where no disclosure is due",
            e.by_reason.get("domestic-center", 0),
            None,
        ),
        "R4": (
            "offshore bridges disclosed for their own site (each site change discloses again)",
            d.covered,
            d.offshore_bridges,
        ),
        "R5": (
            "calls exempt: the caller called a foreign business",
            e.by_reason.get("foreign-business", 0),
            None,
        ),
        "R6": ("calls exempt: emergency services", e.by_reason.get("emergency", 0), None),
        "R7": ("transfer requests completed to an agent at home", t.completed, t.requested),
        "R8": ("offshore bridges after the offer, heard whole", o.covered, o.offshore_bridges),
        "R9": ("hand-offs to an automated agent after its notice", x.bot_notices, x.bots),
        "R11": (
            "calls whose caller's country was unknown, recorded as unknown",
            e.caller_country_unknown,
            r.volume.calls_received,
        ),
        "R12": ("calls recorded under this rule set in the period", r.volume.calls_received, None),
        "R17": ("calls answered offshore", r.volume.offshore_calls, r.volume.calls_received),
        "R19": (
            "calls of home_only lines that never left the home country",
            x.home_only_calls - min(x.home_only_calls, x.home_only_abroad),
            x.home_only_calls,
        ),
        "R20": ("calls from New Jersey answered in New Jersey", nj.answered_in_nj, nj.calls_from_nj),
    }
    evidence = [Evidence(req, REQUIREMENTS[req], *shows[req]) for req in applied if req in shows]
    if "R9" in applied and x.bot_handoffs:
        evidence.append(
            Evidence(
                "R9", REQUIREMENTS["R9"], "automated sessions handed back to a human", x.bot_handoffs, x.bots
            )
        )
    if "R19" in applied and x.refused_abroad:
        evidence.append(
            Evidence(
                "R19",
                REQUIREMENTS["R19"],
                "centers abroad refused for home_only lines",
                x.refused_abroad,
                None,
            )
        )
    return Certification(
        label,
        " and ".join(rs.title for rs in known),
        " / ".join(b for rs in known for b in rs.bills),
        r.volume.calls_received,
        evidence,
    )
