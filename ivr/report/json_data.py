"""The report as JSON: every figure as plain data, with its title and definitions."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from typing import Any

from ivr.report.figures import DEFINITIONS, Report
from ivr.report.sections import title


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_dict(report: Report) -> dict[str, Any]:
    """Everything in the report as plain data (dates stay date objects)."""
    return asdict(report)


def render_json(r: Report) -> str:
    """The report as JSON."""
    data = {"title": title(r), **to_dict(r), "definitions": {k: v for k, v in DEFINITIONS}}
    return json.dumps(data, indent=2, default=_jsonable) + "\n"
