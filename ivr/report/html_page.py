"""The report as one self-contained HTML page (styles inline, the chart as inline SVG), made
to be printed."""

from __future__ import annotations

import html
import re

from ivr.report.figures import DEFINITIONS, Report
from ivr.report.sections import count, flow_label, messages, numeric, sections, title
from ivr.report.svg_chart import svg_chart

_CSS = """
body { font-family: Georgia, 'Times New Roman', serif; color: #111; margin: 2em auto;
       max-width: 60em; padding: 0 1em; line-height: 1.35; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #999;
     page-break-after: avoid; break-after: avoid; }
h3 { font-size: 1em; margin: 1em 0 .3em; page-break-after: avoid; break-after: avoid; }
p.meta strong, td.n, td.day { white-space: nowrap; }
p.meta { color: #333; margin-top: 0; }
table { border-collapse: collapse; margin: .4em 0 1em; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid #bbb; padding: .2em .6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #eee; }
table.kv th { font-weight: normal; background: #f6f6f6; }
.msg { border: 1px solid #999; padding: .4em .8em; margin: .4em 0; }
.msg.alert { border: 2px solid #a00; color: #a00; font-weight: bold; }
.msg.warning { border: 2px solid #b60; color: #840; font-weight: bold; }
dl dt { font-weight: bold; } dl dd { margin: 0 0 .4em 1.5em; }
svg { max-width: 100%; height: auto; }
@page { size: A4; margin: 15mm; }
@media print { body { margin: 0; max-width: none; } .msg { break-inside: avoid; } }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}")  # a date or time, kept on one line when printed


def _html_table(headers: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in body:
        cells = "".join(
            f'<td class="n">{_e(c)}</td>'
            if i and numeric(c)
            else f'<td class="day">{_e(c)}</td>'
            if _DAY.match(c)
            else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        lines.append(f"<tr>{cells}</tr>")
    if not body:
        lines.append(f'<tr><td colspan="{len(headers)}">(none)</td></tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)


def render_html(r: Report) -> str:
    """The report as an HTML page."""
    heading = title(r)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_e(heading)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<h1>Onshore compliance report</h1>",
        f'<p class="meta">Period <strong>{_e(r.start.isoformat())}</strong> to '
        f"<strong>{_e(r.end.isoformat())}</strong> (UTC, inclusive) &middot; Flow: "
        f"<strong>{_e(flow_label(r))}</strong> &middot; Home country: {_e(r.home)} "
        f"&middot; {_e(count(r.source.events_read))} events read</p>",
    ]
    out += [f'<p class="msg {_e(severity)}">{_e(message)}</p>' for severity, message in messages(r)]
    for name, pairs, tables in sections(r):
        out.append(f"<h2>{_e(name)}</h2>")
        if name.startswith("7."):
            out.append(svg_chart(r))
        if pairs:
            out.append('<table class="kv"><tbody>')
            out += [f'<tr><th scope="row">{_e(k)}</th><td class="n">{_e(v)}</td></tr>' for k, v in pairs]
            out.append("</tbody></table>")
        for table_name, (headers, body) in tables:
            out.append(f"<h3>{_e(table_name)}</h3>")
            out.append(_html_table(headers, body))
    out.append("<h2>Definitions</h2>")
    out.append("<dl>" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in DEFINITIONS) + "</dl>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
