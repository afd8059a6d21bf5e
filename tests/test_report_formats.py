"""The report's formats (text, csv, json, html with its chart): each shows every figure of the
same report, escapes what it must, and prints well."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from html.parser import HTMLParser

import pytest

from ivr.report import Report, build_report, percent, render
from tests.report_oracle import NOV1, NOV30, Sim, a_month, ev


@pytest.fixture(scope="module")
def month() -> tuple[Sim, list[dict[str, str]], dict[str, str]]:
    return a_month()


@pytest.fixture(scope="module")
def november(month) -> Report:
    return build_report(month[1], NOV1, NOV30)


class Page(HTMLParser):
    """Tags, attributes, the title, label/value rows and table cells of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.stack: list[str] = []
        self.title = ""
        self.rows: list[list[str]] = []
        self.texts: list[str] = []
        self.svg_texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td") and self.rows:
            self.rows[-1].append("")
        self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag):
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data):
        self.texts.append(data)
        if "title" in self.stack and "svg" not in self.stack:
            self.title += data
        if "text" in self.stack and "svg" in self.stack:
            self.svg_texts.append(data)
        if self.stack and self.stack[-1] in ("th", "td") and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def parse_html(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    return page


def pairs(report: Report) -> list[tuple[str, str]]:
    """Some label/value pairs every human-readable format must show, formatted by hand."""
    v, d, o, t, nj = (report.volume, report.disclosure, report.offer, report.transfers, report.new_jersey)
    return [
        ("Calls received", f"{v.calls_received:,}"),
        ("Calls answered offshore", f"{v.offshore_calls:,}"),
        ("Share of volume answered offshore", percent(v.offshore_calls, v.calls_received)),
        ("Disclosure coverage", percent(d.covered, d.offshore_bridges)),
        ("Offer coverage", percent(o.covered, o.offshore_bridges)),
        ("Transfer requests", f"{t.requested:,}"),
        ("Requested by hold", f"{t.by_channel['hold']:,}"),
        ("Transfers completed", f"{t.completed:,}"),
        ("Time to domestic bridge, p90", f"{t.seconds_to_bridge_p90:.3f} s"),
        ("Exempt: emergency", f"{report.exemptions.by_reason['emergency']:,}"),
        ("Caller country unknown", f"{report.exemptions.caller_country_unknown:,}"),
        ("Calls given the safe answer", f"{report.safe_answers.calls:,}"),
        ("Calls from New Jersey", f"{nj.calls_from_nj:,}"),
        ("Answered in New Jersey", f"{nj.answered_in_nj:,}"),
    ]


def test_text_shows_every_section(november):
    text = render(november, "text")
    lines = text.splitlines()
    assert "2026-11-01 to 2026-11-30" in lines[0] and "all flows" in lines[0]
    assert "flow billing" in render(build_report([], NOV1, NOV30, flow="billing"), "text")
    for label, value in pairs(november):
        assert any(
            line.strip().startswith(label) and line.rstrip().endswith(" " + value) for line in lines
        ), (label, value)
    for sid in november.disclosure.exception_calls + november.offer.exception_calls:
        assert sid in text
    for key in [
        *november.volume.offshore_by_country,
        *november.volume.offshore_by_center,
        *november.safe_answers.by_reason,
    ]:
        assert key in text
    for day in november.daily:
        assert any(line.strip().startswith(day.day.isoformat()) for line in lines)
    assert "NOTICE" in text  # about half the generated calls go offshore
    assert max(map(len, lines[:200])) < 160


def test_html_is_a_self_contained_page_with_every_figure(november):
    document = render(november, "html")
    page = parse_html(document)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [a for a in page.attrs if a[0] in ("src", "href") or a[0].startswith("on")]
    assert "@import" not in document and "url(" not in document
    assert "2026-11-01 to 2026-11-30" in page.title and "all flows" in page.title
    rows = [tuple(r) for r in page.rows]
    for label, value in pairs(november):
        assert (label, value) in rows, (label, value)
    cells = {c for r in rows for c in r}
    assert set(november.disclosure.exception_calls) <= cells
    assert set(november.volume.offshore_by_country) <= cells
    assert {d.day.isoformat() for d in november.daily} <= cells
    # the chart: two series, the 30% line, axes labelled
    assert page.tags.count("svg") == 1 and page.tags.count("polyline") >= 2
    assert any("30% notice threshold" in t for t in page.svg_texts)
    assert "0%" in page.svg_texts and "100%" in page.svg_texts
    assert any("Day" in t for t in page.svg_texts) and any("Percent" in t for t in page.svg_texts)
    assert page.tags.count("circle") == sum(
        (d.offshore_share is not None) + (d.disclosure_coverage is not None) for d in november.daily
    )


def test_html_escapes_every_value():
    nasty = "<script>alert('x')</script>&"
    events = [
        ev(
            "CA<b>1</b>",
            "2026-11-02T10:00:00.000+00:00",
            "received",
            flow=nasty,
            caller_state="NJ",
            caller_country="US",
        ),
        ev("CA<b>1</b>", "2026-11-02T10:00:01.000+00:00", "safe_answer", reason=nasty),
        ev(
            "CA<b>1</b>",
            "2026-11-02T10:00:02.000+00:00",
            "bridged",
            center="<img src=x>",
            city="<i>",
            country="P&H",
            region="",
            domestic="false",
        ),
    ]
    report = build_report(events, NOV1, NOV30, flow=nasty)
    assert report.volume.calls_received == 1
    document = render(report, "html")
    page = parse_html(document)
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert "i" not in page.tags
    assert nasty in page.title
    cells = {c for r in page.rows for c in r}
    assert {"CA<b>1</b>", "<img src=x>", "P&H", nasty} <= cells


def test_csv_has_one_layout_and_every_figure(november):
    table = list(csv.reader(io.StringIO(render(november, "csv"))))
    assert table[0] == ["section", "metric", "key", "value"]
    assert all(len(row) == 4 for row in table)
    cell = {(s, m, k): v for s, m, k, v in table[1:] if m not in ("exception", "exception_calls")}
    v, t = november.volume, november.transfers
    assert cell[("volume", "calls_received", "")] == str(v.calls_received)
    assert cell[("volume", "offshore_calls", "")] == str(v.offshore_calls)
    assert float(cell[("volume", "offshore_share", "")]) == v.offshore_share
    assert cell[("volume", "threshold_reached", "")] == str(v.threshold_reached).lower()
    for country, n in v.offshore_by_country.items():
        assert cell[("volume", "offshore_by_country", country)] == str(n)
    for center, n in v.offshore_by_center.items():
        assert cell[("volume", "offshore_by_center", center)] == str(n)
    for channel, n in t.by_channel.items():
        assert cell[("transfers", "by_channel", channel)] == str(n)
    assert float(cell[("transfers", "seconds_to_bridge_p50", "")]) == t.seconds_to_bridge_p50
    for reason, n in november.exemptions.by_reason.items():
        assert cell[("exemptions", "by_reason", reason)] == str(n)
    for reason, n in november.safe_answers.by_reason.items():
        assert cell[("safe_answers", "by_reason", reason)] == str(n)
    assert cell[("new_jersey", "answered_in_nj", "")] == str(november.new_jersey.answered_in_nj)
    for section in ("disclosure", "offer"):
        cov = getattr(november, section)
        listed = [k for s, m, k, _ in table if s == section and m == "exception"]
        assert listed == [u.call for u in cov.exceptions]
        assert cell[(section, "covered", "")] == str(cov.covered)
    for day in november.daily:
        key = day.day.isoformat()
        assert cell[("daily", "calls_received", key)] == str(day.calls_received)
        assert cell[("daily", "covered_bridges", key)] == str(day.covered_bridges)


def test_json_holds_everything(november):
    data = json.loads(render(november, "json"))
    plain = json.loads(json.dumps(asdict(november), default=str))
    assert {k: data[k] for k in plain} == plain
    assert data["start"] == "2026-11-01" and data["flow"] is None
    assert data["volume"]["offshore_by_country"] == november.volume.offshore_by_country
    assert len(data["daily"]) == 30 and data["daily"][0]["day"] == "2026-11-01"
    assert [u["call"] for u in data["disclosure"]["exceptions"]] == [
        u.call for u in november.disclosure.exceptions
    ]
    assert "Disclosure coverage" in data["definitions"]


@pytest.mark.parametrize(
    "part, whole, shown",
    [
        (32, 54, "59.26%"),  # 59.259...: rounded, not cut
        (1, 800, "0.12%"),  # 0.125: half to even
        (3, 800, "0.38%"),  # 0.375: half to even
        (99996, 100000, "99.99%"),  # not all is never 100.00%
        (1, 100000, "0.01%"),  # some is never 0.00%
        (54, 54, "100.00%"),
        (0, 54, "0.00%"),
        (0, 0, "n/a"),
    ],
)
def test_percentages_are_rounded(part, whole, shown):
    assert percent(part, whole) == shown


def test_the_printed_page_keeps_dates_whole_and_headings_with_their_tables(november):
    document = render(november, "html")
    assert "break-after: avoid" in document.split("h3 {")[1].split("}")[0]
    assert "break-after: avoid" in document.split("h2 {")[1].split("}")[0]
    assert "td.day" in document and "white-space: nowrap" in document
    assert '<td class="day">2026-11-01</td>' in document


def test_the_chart_is_legible_and_draws_both_r17_lines_off_the_data(november):
    svg = render(november, "html").split("<svg", 1)[1].split("</svg>")[0]
    assert 'font-size="13"' in svg and 'font-size="11"' not in svg
    top, plot_h = 64, 360 - 64 - 80
    lines = {
        round(float(y))
        for y in (
            part.split('y1="')[1].split('"')[0]
            for part in svg.split("<line")[1:]
            if "stroke-dasharray" in part and 'x1="64"' in part
        )
    }
    assert {round(top + plot_h * (1 - 0.30)), round(top + plot_h * (1 - 0.25))} <= lines
    labels = [t for t in svg.split("<text")[1:] if "R17" in t]
    assert len(labels) == 2 and all(float(t.split('y="')[1].split('"')[0]) < top for t in labels)
