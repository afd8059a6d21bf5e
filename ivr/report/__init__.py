"""Compliance reports from the per-call evidence (R12, R17, R20): pure, no Redis, no Flask.

``build_report(events, start, end)`` reads entries of the ``onshore:events`` stream (dicts of
str, in stream order, schema in ``ivr.evidence``) once, keeps a few facts per call, and adds
each call up once it is complete, so that memory follows the calls of the last few days, not
the period (``build``); ``render(report, fmt)`` prints the result as text, csv, json or html.

Where each part lives: ``figures`` (what a report holds, the definitions printed with it),
``build`` (the pass over the events), ``calls`` (what is kept of a call while reading it, and
how its bridges ended), ``totals`` (calls added up into the figures); the renderers ``text``,
``csv_table``, ``json_data`` and ``html_page`` (with ``svg_chart``), which share
``sections``.

Theory of operation, and the definitions the figures rest on (also printed with every report,
see ``figures.DEFINITIONS``):

* A call belongs to the period when the UTC date of its ``received`` event is in
  [start, end]; every event of that call counts, whenever it was recorded. Calls whose
  ``received`` is not in the input cannot be placed and are only counted (``source``).
* Order within a call is the order of ``at`` (then stream order for equal ``at``), not the
  stream order alone: events that waited in the local spool while Redis was down are
  appended later than events of the call's next webhooks. So per call the pass keeps only
  positions (``at``, sequence) and decides "earlier" once the call is complete.
* An offshore bridge is a ``bridged`` event with ``domestic=false`` (when the field is absent:
  its country is not the home country). A call is offshore when it has at least one.
* A bridge was answered unless Twilio reported, in the ``bridge_ended`` that follows it, a
  status that ``ivr.outcomes`` does not read as answered, or the call moved on (another bridge or a
  transfer request, e.g. the caller pressed 1 on hold) before any ``bridge_ended``. A bridge
  with no report at all counts as answered: Twilio connected it and said nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from ivr.report.build import as_events, build_report, stored_events
from ivr.report.csv_table import render_csv
from ivr.report.figures import DEFINITIONS, Report, percent
from ivr.report.html_page import render_html
from ivr.report.json_data import render_json
from ivr.report.text import render_text

__all__ = [
    "CONTENT_TYPES",
    "DEFINITIONS",
    "FORMATS",
    "Report",
    "as_events",
    "build_report",
    "percent",
    "render",
    "stored_events",
]

_RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "csv": render_csv,
    "json": render_json,
    "html": render_html,
}
FORMATS = tuple(_RENDERERS)
CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "html": "text/html; charset=utf-8",
}


def render(report: Report, fmt: str) -> str:
    """The report as text, csv, json or html."""
    if fmt not in _RENDERERS:
        raise ValueError(f"unknown report format {fmt!r}: use one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](report)
