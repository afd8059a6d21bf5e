"""The report as plain text: headings, dotted label/value lines, aligned tables."""

from __future__ import annotations

import textwrap

from ivr.report.figures import DEFINITIONS, Report
from ivr.report.sections import flow_label, messages, numeric, sections, title


def _text_table(headers: tuple[str, ...], rows: list[tuple[str, ...]], indent: str) -> list[str]:
    columns = list(zip(headers, *rows, strict=True))
    widths = [max(len(x) for x in col) for col in columns]
    right_aligned = [i > 0 and all(numeric(x) for x in col[1:]) for i, col in enumerate(columns)]

    def line(cells: tuple[str, ...]) -> str:
        parts = [
            cell.rjust(w) if right else cell.ljust(w)
            for cell, w, right in zip(cells, widths, right_aligned, strict=True)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *map(line, rows)]


def render_text(r: Report) -> str:
    """The report as text."""
    out = [
        title(r),
        "=" * len(title(r)),
        f"Period: {r.start.isoformat()} to {r.end.isoformat()} (UTC, inclusive)   "
        f"Flow: {flow_label(r)}   Home country: {r.home}",
        "",
    ]
    for severity, message in messages(r):
        out.append(f"{'!! ' if severity == 'alert' else '!  ' if severity == 'warning' else ''}{message}")
    for heading, pairs, tables in sections(r):
        out += ["", heading, "-" * len(heading)]
        if pairs:
            width = max(len(k) for k, _ in pairs) + 2
            vwidth = max(len(v) for _, v in pairs)
            out += [f"  {(k + ' ').ljust(width, '.')} {v.rjust(vwidth)}" for k, v in pairs]
        for name, (headers, rows) in tables:
            out += ["", f"  {name}"]
            out += _text_table(headers, rows, "    ") if rows else ["    (none)"]
    out += ["", "Definitions", "-----------"]
    out += [
        textwrap.fill(f"{k}: {v}", 96, initial_indent="  ", subsequent_indent="    ") for k, v in DEFINITIONS
    ]
    return "\n".join(out) + "\n"
