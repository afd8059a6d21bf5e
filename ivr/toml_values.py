"""How an operator file's values are named in problems: as TOML writes them, not as Python
prints them (`the text "0"`, not `'0'`; `the date 2026-01-01`, not `datetime.date(...)`)."""

from __future__ import annotations

from datetime import date, datetime, time

KINDS = {
    str: "quoted text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def kind_name(kind: type | tuple[type, ...]) -> str:
    """What a field must be, in the words of TOML: "quoted text", "a whole number", ..."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:  # a whole number is a number too
        kinds = tuple(k for k in kinds if k is not int)
    return " or ".join(KINDS.get(k, k.__name__) for k in kinds)


def shown(value: object) -> str:
    """A value as the operator wrote it, with what TOML made of it."""
    if isinstance(value, bool):
        return f"the value {str(value).lower()}"
    if isinstance(value, str):
        return f'the text "{value}"'
    if isinstance(value, datetime | date | time):  # TOML's unquoted date and time literals
        what = "date and time" if isinstance(value, datetime) else type(value).__name__
        return f"the unquoted {what} {value.isoformat()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return repr(value)
