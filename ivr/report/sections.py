"""What the text and html reports show, section by section, and how they show a figure."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ivr.report.figures import NJ_TARGET_PERCENT, Coverage, Report, percent

_NUMERIC = re.compile(r"^(?:[\d,]+(?:\.\d+)?(?:%| s)?|n/a)$")


def numeric(cell: str) -> bool:
    return bool(_NUMERIC.match(cell))


def with_article(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def count(value: int) -> str:
    return f"{value:,}"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def flow_label(report: Report) -> str:
    if report.flow is None:
        return "all flows"
    return f"flow {report.flow}" if report.flow else "calls to unknown numbers (no flow)"


def title(report: Report) -> str:
    return (
        f"Onshore compliance report, {report.start.isoformat()} to {report.end.isoformat()}"
        f" (UTC), {flow_label(report)}"
    )


Table = tuple[tuple[str, ...], list[tuple[str, ...]]]  # headers, rows


def sections(r: Report) -> list[tuple[str, list[tuple[str, str]], list[tuple[str, Table]]]]:
    """Every section as (heading, label/value pairs, named tables): shared by text and html."""
    v, d, o, t, e, s, nj = (
        r.volume,
        r.disclosure,
        r.offer,
        r.transfers,
        r.exemptions,
        r.safe_answers,
        r.new_jersey,
    )

    def coverage(cov: Coverage, what: str) -> list[tuple[str, str]]:
        return [
            ("Offshore bridges", count(cov.offshore_bridges)),
            (f"Covered by {with_article(what)}", count(cov.covered - cov.via_exemption)),
            ("Covered by an exemption", count(cov.via_exemption)),
            ("Exceptions", count(cov.offshore_bridges - cov.covered)),
            (f"{what.capitalize()} coverage", percent(cov.covered, cov.offshore_bridges)),
            ("Complete (must be 100%)", "yes" if cov.complete else "NO"),
        ]

    def exceptions(cov: Coverage) -> list[tuple[str, Table]]:
        if not cov.exceptions:
            return []
        rows: list[tuple[str, ...]] = [(u.call, u.at, u.center, u.city, u.country) for u in cov.exceptions]
        return [("Exceptions", (("CallSid", "Bridged at (UTC)", "Center", "City", "Country"), rows))]

    def breakdown(counts: Mapping[str, int], what: str, whole: int, of: str) -> Table:
        return (
            (what, "Calls", f"Share of {of}"),
            [(k, count(n), percent(n, whole)) for k, n in counts.items()],
        )

    return [
        (
            "1. Call volume and offshore share (R17)",
            [
                ("Calls received", count(v.calls_received)),
                ("Calls answered offshore", count(v.offshore_calls)),
                ("Offshore bridges (answered or not)", count(v.offshore_bridges)),
                ("Share of volume answered offshore", percent(v.offshore_calls, v.calls_received)),
                ("Handed off to the company's own application (outside this record)", count(v.handed_off)),
                (
                    "Disclosed at the bridge (TaskRouter reservation, shared-queue dequeue)",
                    count(v.disclosed_at_bind),
                ),
                ("Warning (>= 25%)", "YES" if v.warning else "no"),
                ("Notice threshold reached (>= 30%)", "YES" if v.threshold_reached else "no"),
            ],
            [
                (
                    "Offshore calls by country",
                    breakdown(v.offshore_by_country, "Country", v.calls_received, "calls received"),
                ),
                (
                    "Offshore calls by center",
                    breakdown(v.offshore_by_center, "Center", v.calls_received, "calls received"),
                ),
            ],
        ),
        ("2a. Disclosure coverage (R1, R4)", coverage(d, "disclosure"), exceptions(d)),
        ("2b. Offer coverage (R8)", coverage(o, "offer"), exceptions(o)),
        (
            "3. Transfer requests (R7)",
            [
                ("Transfer requests", count(t.requested)),
                *((f"Requested by {k}", count(n)) for k, n in t.by_channel.items()),
                ("Transfers completed", count(t.completed)),
                ("Transfers not completed", count(t.not_completed)),
                ("Completion rate", percent(t.completed, t.requested)),
                ("Requests that reached a domestic bridge", count(t.reached_domestic_bridge)),
                ("Time to domestic bridge, p50", seconds(t.seconds_to_bridge_p50)),
                ("Time to domestic bridge, p90", seconds(t.seconds_to_bridge_p90)),
            ],
            [],
        ),
        (
            "3b. Domestic requests: how each ended",
            [
                ("Domestic requests", count(r.domestic.requests)),
                ("Honoured by a domestic bridge", count(r.domestic.by_bridge)),
                ("Honoured by a callback", count(r.domestic.by_callback)),
                ("Time to callback, p50", seconds(r.domestic.seconds_to_callback_p50)),
                ("Time to callback, p90", seconds(r.domestic.seconds_to_callback_p90)),
                ("Honoured by voicemail", count(r.domestic.by_voicemail)),
                ("Ended with the caller gone", count(r.domestic.caller_gone)),
                ("Callbacks still open", count(r.domestic.callbacks_open)),
                ("Callbacks cancelled by the caller", count(r.domestic.cancelled)),
                ("Callbacks failed (reason listed)", count(r.domestic.callbacks_failed)),
                ("Not honoured (reason listed)", count(r.domestic.not_honoured)),
                ("Ended offshore (must be 0)", count(r.domestic.offshore)),
            ],
            [
                (
                    "Requests not honoured",
                    (("CallSid, outcome and reason",), [(u,) for u in r.domestic.unresolved]),
                )
            ]
            if r.domestic.unresolved
            else [],
        ),
        (
            "4. Exemptions (R3, R5, R6, R11)",
            [
                *((f"Exempt: {k}", count(n)) for k, n in e.by_reason.items()),
                ("Calls with any exemption", count(e.exempt_calls)),
                (f"Caller outside the home country ({r.home})", count(e.caller_outside_home)),
                ("Caller country unknown", count(e.caller_country_unknown)),
            ],
            [],
        ),
        (
            "5. Safe answers",
            [("Calls given the safe answer", count(s.calls))],
            [
                (
                    "Safe answers by reason",
                    breakdown(s.by_reason, "Reason", r.volume.calls_received, "calls received"),
                )
            ]
            if s.by_reason
            else [],
        ),
        (
            "6. New Jersey (R20)",
            [
                ("Calls from New Jersey", count(nj.calls_from_nj)),
                ("Bridged to a New Jersey center", count(nj.bridged_to_nj)),
                ("Answered in New Jersey", count(nj.answered_in_nj)),
                ("Share answered in New Jersey", percent(nj.answered_in_nj, nj.calls_from_nj)),
                (
                    f"Meets the {NJ_TARGET_PERCENT}% target",
                    "n/a" if nj.meets_target is None else "yes" if nj.meets_target else "NO",
                ),
                ("New Jersey centers", ", ".join(nj.nj_centers) or "no NJ centers"),
            ],
            [],
        ),
        (
            "7. Daily series",
            [],
            [
                (
                    "By day (UTC)",
                    (
                        (
                            "Day",
                            "Calls received",
                            "Offshore calls",
                            "Offshore share",
                            "Offshore bridges",
                            "Covered",
                            "Disclosure coverage",
                        ),
                        [
                            (
                                x.day.isoformat(),
                                count(x.calls_received),
                                count(x.offshore_calls),
                                percent(x.offshore_calls, x.calls_received),
                                count(x.offshore_bridges),
                                count(x.covered_bridges),
                                percent(x.covered_bridges, x.offshore_bridges),
                            )
                            for x in r.daily
                        ],
                    ),
                )
            ],
        ),
        (
            "8. Abandoned calls and waits, per center",
            [
                ("Calls abandoned (the caller hung up before an answer)", count(r.waits.abandoned_calls)),
                ("Share of calls received", percent(r.waits.abandoned_calls, v.calls_received)),
            ],
            [
                (
                    "By center",
                    (
                        (
                            "Center",
                            "Bridges",
                            "Answered",
                            "Abandoned",
                            "Abandon rate",
                            "To abandon p50",
                            "To abandon p90",
                            "Waits reported",
                            "Wait p50",
                            "Wait p90",
                            "Wait p99",
                        ),
                        [
                            (
                                w.center,
                                count(w.bridges),
                                count(w.answered),
                                count(w.abandoned),
                                percent(w.abandoned, w.bridges),
                                seconds(w.seconds_to_abandon_p50),
                                seconds(w.seconds_to_abandon_p90),
                                count(w.waits_reported),
                                seconds(w.wait_p50),
                                seconds(w.wait_p90),
                                seconds(w.wait_p99),
                            )
                            for w in r.waits.by_center
                        ],
                    ),
                )
            ],
        ),
        (
            "9. Lines and the rule sets in force (R19)",
            [
                ("Numbers called", count(len(r.lines))),
                ("Lines held at home (home_only)", count(sum(line.home_only for line in r.lines))),
                (
                    "Home_only lines that stayed home (must be all)",
                    count(sum(bool(line.stayed_home) for line in r.lines)),
                ),
            ],
            [
                (
                    "By number",
                    (
                        (
                            "Number",
                            "Calls",
                            "Rule sets (calls)",
                            "home_only",
                            "Bridges abroad",
                            "Refused abroad",
                            "Stayed home",
                        ),
                        [
                            (
                                line.number or "(unknown)",
                                count(line.calls),
                                "; ".join(f"{k or 'not recorded'} ({n:,})" for k, n in line.rules.items()),
                                "yes" if line.home_only else "no",
                                count(line.offshore_bridges),
                                count(line.refused_abroad),
                                "n/a" if line.stayed_home is None else "yes" if line.stayed_home else "NO",
                            )
                            for line in r.lines
                        ],
                    ),
                )
            ],
        ),
        *certification_sections(r),
        (
            "Source",
            [
                ("Events read", count(r.source.events_read)),
                ("Calls in the input", count(r.source.calls_seen)),
                ("Calls received outside the period", count(r.source.calls_outside_period)),
                ("Calls of other flows", count(r.source.calls_other_flow)),
                ("Calls without a 'received' event", count(r.source.calls_without_received)),
                ("Malformed events", count(r.source.malformed_events)),
            ],
            [],
        ),
    ]


Section = tuple[str, list[tuple[str, str]], list[tuple[str, Table]]]


def certification_sections(r: Report) -> list[Section]:
    """Section 10 (R12), one per rule set in force: each requirement and its evidence."""
    out: list[Section] = []
    for c in r.certification:
        rows: list[tuple[str, ...]] = [
            (
                f"{ev.requirement}: {ev.means}",
                ev.shows,
                "n/a" if ev.count is None else count(ev.count),
                "n/a" if ev.of is None else count(ev.of),
                "n/a" if ev.count is None or ev.of is None else percent(ev.count, ev.of),
            )
            for ev in c.evidence
        ]
        table: Table = (("Requirement", "What the record shows", "Count", "Of", "Share"), rows)
        pairs = [("Rule set", c.title), ("Bills", c.bills or "n/a"), ("Calls", count(c.calls))]
        out.append(
            (
                f"10. Certification (R12): {c.rules or 'not recorded'}",
                pairs,
                [("Requirements and their evidence", table)],
            )
        )
    return out


def messages(r: Report) -> list[tuple[str, str]]:
    """(severity, message) shown at the top of the text and html reports."""
    out = []
    v = r.volume
    out.append(("alert" if v.threshold_reached else "warning" if v.warning else "info", v.message))
    for cov, what in ((r.disclosure, "disclosure"), (r.offer, "offer")):
        if not cov.complete:
            missing = cov.offshore_bridges - cov.covered
            out.append(
                (
                    "alert",
                    f"{what.capitalize()} coverage is "
                    f"{percent(cov.covered, cov.offshore_bridges)}: {missing:,} "
                    f"offshore bridge(s) without {with_article(what)} (listed below).",
                )
            )
    nj = r.new_jersey
    out.append(("warning" if nj.meets_target is False else "info", nj.message))
    for line in r.lines:
        if line.stayed_home is False:
            out.append(
                (
                    "alert",
                    f"home_only line {line.number} was bridged abroad "
                    f"{line.offshore_bridges:,} time(s) (R19).",
                )
            )
    if r.flow and not v.calls_received:
        out.insert(
            0,
            (
                "warning",
                f"No call of flow '{r.flow}' was received in this period: "
                "is the flow's id right? (`ivr versions FLOW` lists its versions)",
            ),
        )
    return out
