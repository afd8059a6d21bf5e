"""The daily offshore share and disclosure coverage as an inline SVG line chart, with the R17
warning and notice lines."""

from __future__ import annotations

import math
from html import escape

from ivr.report.figures import NOTICE_PERCENT, WARNING_PERCENT, Report
from ivr.report.sections import flow_label


def svg_chart(r: Report) -> str:
    """The daily offshore share and disclosure coverage as an inline SVG line chart."""
    width, height = 760, 360
    left, right, top, bottom = 64, 24, 64, 80
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(r.daily)

    def x(i: int) -> float:
        return left + (i + 0.5) * plot_w / n

    def y(share: float) -> float:
        return top + plot_h * (1 - share)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-label="{escape("Daily offshore share and disclosure coverage, " + heading_period(r))}"'
        f' font-family="Georgia, serif" font-size="13">',
        f"<title>{escape('Daily offshore share and disclosure coverage')}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#444"/>',
    ]
    for tick in (0, 25, 50, 75, 100):
        ty = y(tick / 100)
        parts.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}%</text>')
    # The R17 lines are named in the legend, not on the plot, where a label would hide a day.
    limits = (
        (f"{NOTICE_PERCENT}% notice threshold (R17)", NOTICE_PERCENT, "#a00", "2 3"),
        (f"{WARNING_PERCENT}% warning (R17)", WARNING_PERCENT, "#b60", "8 4"),
    )
    for _, limit, color, dash in limits:
        parts.append(
            f'<line x1="{left}" y1="{y(limit / 100):.1f}" x2="{left + plot_w}" '
            f'y2="{y(limit / 100):.1f}" stroke="{color}" stroke-width="1.5" '
            f'stroke-dasharray="{dash}"/>'
        )
    step = max(1, math.ceil(n / 16))
    for i, day in enumerate(r.daily):
        tx = x(i)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{top + plot_h}" x2="{tx:.1f}" y2="{top + plot_h + 4}" stroke="#444"/>'
        )
        if i % step == 0:
            label = day.day.strftime("%m-%d")
            parts.append(
                f'<text x="{tx:.1f}" y="{top + plot_h + 16}" text-anchor="end" '
                f'transform="rotate(-45 {tx:.1f} {top + plot_h + 16})">{escape(label)}</text>'
            )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle">'
        f"{escape('Day received (UTC)')}</text>"
    )
    parts.append(
        f'<text x="16" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.1f})">'
        f"{escape('Percent of calls / offshore bridges')}</text>"
    )
    series = (
        ("Offshore share of calls received", "offshore_share", "#c0392b", ""),
        (
            "Disclosure coverage of offshore bridges",
            "disclosure_coverage",
            "#1f4e9a",
            ' stroke-dasharray="7 4"',
        ),
    )
    for label, attr, color, dash in series:
        segment: list[str] = []
        segments = [segment]
        for i, day in enumerate(r.daily):
            value = getattr(day, attr)
            if value is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.5" fill="{color}">'
                f"<title>{escape(f'{day.day.isoformat()}: {label} {value * 100:.2f}%')}"
                f"</title></circle>"
            )
        for points in segments:
            if len(points) > 1:
                parts.append(
                    f'<polyline points="{" ".join(points)}" fill="none" '
                    f'stroke="{color}" stroke-width="2"{dash}/>'
                )
    legend = [(label, color, dash, "2") for label, _, color, dash in series]
    legend += [(label, color, f' stroke-dasharray="{dash}"', "1.5") for label, _, color, dash in limits]
    for i, (label, color, dash, stroke_width) in enumerate(legend):
        legend_x, legend_y = left + (i % 2) * 340, 18 + (i // 2) * 22
        parts.append(
            f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 28}" '
            f'y2="{legend_y - 4}" stroke="{color}" stroke-width="{stroke_width}"{dash}/>'
        )
        parts.append(f'<text x="{legend_x + 34}" y="{legend_y}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def heading_period(r: Report) -> str:
    return f"{r.start.isoformat()} to {r.end.isoformat()}, {flow_label(r)}"
