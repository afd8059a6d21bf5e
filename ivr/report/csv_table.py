"""The report as CSV: one layout, (section, metric, key, value), for every figure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date
from typing import Any

from ivr.report.figures import DEFINITIONS, Report


def rows(r: Report) -> Iterator[tuple[str, str, str, str]]:
    """Every figure as (section, metric, key, value): the CSV layout."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)

    yield "report", "start", "", r.start.isoformat()
    yield "report", "end", "", r.end.isoformat()
    yield "report", "flow", "", r.flow or ""
    yield "report", "home", "", r.home
    for section in (
        "source",
        "volume",
        "disclosure",
        "offer",
        "transfers",
        "domestic",
        "exemptions",
        "safe_answers",
        "new_jersey",
    ):
        for name, value in asdict(getattr(r, section)).items():
            if isinstance(value, dict):
                for k, n in value.items():
                    yield section, name, k, cell(n)
            elif isinstance(value, list) and name == "exceptions":
                for u in value:
                    yield (
                        section,
                        "exception",
                        u["call"],
                        f"{u['center']} {u['city']} {u['country']} at {u['at']}",
                    )
            elif isinstance(value, list):
                for item in value:
                    yield section, name, "", cell(item)
            else:
                yield section, name, "", cell(value)
    for day in r.daily:
        for name, value in asdict(day).items():
            if name != "day":
                yield "daily", name, day.day.isoformat(), cell(value)
    yield "waits", "abandoned_calls", "", cell(r.waits.abandoned_calls)
    for center in r.waits.by_center:
        for name, value in asdict(center).items():
            if name != "center":
                yield "waits", name, center.center, cell(value)
    for line in r.lines:
        for name, value in asdict(line).items():
            if name == "rules":
                for label, calls in value.items():
                    yield "lines", "rules", f"{line.number} {label}".strip(), cell(calls)
            elif name != "number":
                yield "lines", name, line.number, cell(value)
    for c in r.certification:
        yield "certification", "calls", c.rules, cell(c.calls)
        for ev in c.evidence:
            yield "certification", f"{ev.requirement} {ev.shows}", c.rules, f"{cell(ev.count)}/{cell(ev.of)}"
    for name, text in DEFINITIONS:  # how each figure is computed, as in the other formats
        yield "definitions", name, "", text


def render_csv(r: Report) -> str:
    """The report as CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("section", "metric", "key", "value"))
    writer.writerows(rows(r))
    return buffer.getvalue()
