"""Reading operator files (TOML) into centers, numbers, flows and the folder's policy.

Every problem becomes a FlowError naming the file, the center/number/flow/state and the
field. The same parsers read the JSON documents ``ivr load`` publishes to Redis, so a
published flow and a flow on disk can never mean different things.

This module reads a folder and files its tables (``read_folder``, ``collect``), then builds
the configuration (``build``) with the parsers of each kind of table: ``ivr.center_tables``
(centers and the policy), ``ivr.flow_tables`` (flows, their states, numbers), both taking
fields through ``ivr.table_fields``.
"""

from __future__ import annotations

import io
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.center_tables import parse_center, parse_policy
from ivr.errors import FlowError
from ivr.flow import Config, Number
from ivr.flow_tables import parse_flow, parse_number
from ivr.progress import Progress
from ivr.table_fields import Problems

__all__ = [
    "MAX_DEPTH",
    "Problems",
    "Sources",
    "build",
    "collect",
    "parse_center",
    "parse_flow",
    "parse_number",
    "parse_policy",
    "read_folder",
]


@dataclass
class Sources:
    """Raw tables found in a folder, each with the file it came from."""

    centers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    numbers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    flows: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    policy: tuple[str, dict[str, Any]] | None = None  # published, versioned (store.py)


MAX_DEPTH = 12  # tables and lists within each other; the deepest field (a menu's words) is 6


def read_folder(folder: Path) -> tuple[Sources, list[FlowError]]:
    """Collect [centers], [numbers], [flows] and [policy] tables from every *.toml file in a folder."""
    sources, errors = Sources(), []
    files = sorted(folder.glob("*.toml")) if folder.is_dir() else [folder]
    if not files:
        errors.append(FlowError(str(folder), "", "", "holds no *.toml files"))
    for path in files:
        problems = Problems(str(path))
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            problems.add("", "", f"cannot be read: {exc}")
        except RecursionError:  # tomllib reads nested arrays and inline tables recursively
            problems.add(
                "",
                "",
                f"cannot be read: it nests too deep (tables and lists may nest at most {MAX_DEPTH} levels)",
            )
        else:
            collect(doc, sources, problems)
        errors.extend(problems.errors)
    return sources, errors


def collect(doc: Mapping[str, Any], sources: Sources, problems: Problems) -> None:
    """File one TOML document's tables into ``sources``; what cannot be filed is a problem."""
    file = problems.file
    for section in sorted(set(doc) - {"centers", "numbers", "flows", "policy", "scenarios"}):
        problems.add("", section, "is not a known section (centers, numbers, flows, policy)")
    for section, bucket in (
        ("centers", sources.centers),
        ("numbers", sources.numbers),
        ("flows", sources.flows),
    ):
        tables = doc.get(section, {})
        if not isinstance(tables, dict):
            problems.add("", section, f"must be tables like [{section}.ID], not {_shown(tables)}")
            continue
        for key, table in tables.items():
            where = f"{section[:-1]} '{key}'"
            deepest = _depth(table)
            if not isinstance(table, dict):
                problems.add(where, "", "must be a table")
            elif deepest[0] > MAX_DEPTH:
                problems.add(where, deepest[1], f"nests {deepest[0]} levels deep; at most {MAX_DEPTH}")
            elif key in bucket:
                problems.add(where, "", f"is already defined in {bucket[key][0]}")
            else:
                bucket[key] = (file, table)
    if "policy" in doc:
        if not isinstance(doc["policy"], dict):
            problems.add("policy", "", "must be a table")
        elif _depth(doc["policy"])[0] > MAX_DEPTH:
            problems.add("policy", "", f"nests deeper than {MAX_DEPTH} levels")
        elif sources.policy is not None:
            problems.add("policy", "", f"is already defined in {sources.policy[0]}; one per folder")
        else:
            sources.policy = (file, doc["policy"])


def _shown(value: object) -> str:
    return repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"


def _depth(value: object) -> tuple[int, str]:
    """How deep tables and lists nest in a value, and the dotted path to the deepest field;
    without recursion, so a hostile file cannot exhaust the stack."""
    deepest, where = 0, ""
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if not isinstance(item, (dict, list)):
            continue
        if depth > deepest:
            deepest, where = depth, path
        if depth > MAX_DEPTH:
            break
        children = item.items() if isinstance(item, dict) else enumerate(item)
        stack.extend((child, depth + 1, f"{path}.{name}" if path else str(name)) for name, child in children)
    return deepest, where


def build(sources: Sources, progress: Progress | None = None) -> tuple[Config, list[FlowError]]:
    """Parse every table; return the config and every problem found."""
    errors: list[FlowError] = []
    progress = progress or Progress(io.StringIO())

    def each(bucket: dict[str, tuple[str, dict[str, Any]]], parse: Callable[..., Any]) -> dict[str, Any]:
        out = {}
        what = "parsing " + parse.__name__.removeprefix("parse_") + "s"
        for key, (file, raw) in progress.counting(what, bucket.items(), len(bucket)):
            problems = Problems(file)
            out[key] = parse(key, raw, problems)
            errors.extend(problems.errors)
        return out

    policy = None
    if sources.policy is not None:
        problems = Problems(sources.policy[0])
        policy = parse_policy(sources.policy[1], problems)
        errors.extend(problems.errors)
    policy_rules = policy.rules if policy is not None else ()

    def parse_number_in_folder(e164: str, raw: Mapping[str, Any], problems: Problems) -> Number:
        return parse_number(e164, raw, problems, policy_rules)

    parse_number_in_folder.__name__ = "parse_number"  # what the progress line calls it

    config = Config(
        centers=each(sources.centers, parse_center),
        numbers=each(sources.numbers, parse_number_in_folder),
        flows=each(sources.flows, parse_flow),
        policy=policy,
    )
    return config, errors
