"""``ivr check|load|test|preview|versions|diff|rollback|fallback build``: the operator files
and their published versions."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from redis.exceptions import RedisError

from ivr import caller_data, fallback, simulation
from ivr.check import check_folder, flow_problems, number_rule_sets
from ivr.cli import options
from ivr.cli.options import home
from ivr.errors import FlowError, OnshoreError
from ivr.flow import Config, answers_abroad
from ivr.flowfile import Problems, parse_flow
from ivr.progress import Progress
from ivr.publishing import publisher
from ivr.rulesets import RULE_SETS
from ivr.scenarios import parse_scenario, read_scenarios
from ivr.store import Store


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a folder of operator files; print every problem (and, with --redis-url, warn
    when the published configuration's fallback documents are not built)."""
    config, _, errors = check_folder(Path(args.folder), home(args), Progress())
    for error in errors:
        print(error, file=sys.stderr)
    if args.redis_url:
        try:
            warnings = _fallback_warnings(options.store(args), home(args))
        except (RedisError, OSError) as exc:  # a 1 s PING: the files' check goes on without it
            warnings = [f"cannot read the published configuration to compare its fallback: {exc}"]
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    checked = rule_set_lines(config, home(args), proven=not errors)
    if errors:
        for line in checked:
            print(line, file=sys.stderr)
        print(f"{len(errors)} problem(s) in {args.folder}", file=sys.stderr)
        return 1
    for line in checked:
        print(line)
    print(
        f"{args.folder}: {len(config.centers)} centers, {len(config.numbers)} numbers, "
        f"{len(config.flows)} flows: OK"
    )
    return 0


def rule_set_lines(config: Config, home_country: str, proven: bool) -> list[str]:
    """Which rule sets the check proved (or, not ``proven``, checked), with how many numbers
    follow each, and the lines proven to stay at home (R19)."""
    by_set: dict[str, list[str]] = {}
    rules = number_rule_sets(config)
    for e164, rule_set in rules.items():
        by_set.setdefault(rule_set.name, []).append(e164)
    lines = []
    for _, numbers in sorted(by_set.items()):
        rule_set = rules[numbers[0]]
        versioned = " + ".join(f"{part} v{RULE_SETS[part].version}" for part in rule_set.parts)
        lines.append(
            f"  checked under rule set {versioned} ({' / '.join(rule_set.bills)}; "
            f"{', '.join(rule_set.requirements)}): {len(numbers)} number(s)"
        )
    for center_id, center in sorted(config.centers.items()):
        if answers_abroad(center, config.centers, home_country):
            lines.append(
                f"  center {center_id} ({center.city}, {center.country}; {center.target.kind}) "
                f"receives: {caller_data.received_by(center)}"
            )
    home_only = sorted(e164 for e164, number in config.numbers.items() if number.home_only)
    if home_only and proven:
        shown = ", ".join(home_only[:5]) + (f" and {len(home_only) - 5} more" if len(home_only) > 5 else "")
        lines.append(f"  home_only (R19): no path from {shown} reaches a center outside {home_country}")
    return lines


def _fallback_warnings(store: Store, home: str) -> list[str]:
    """What is wrong with the fallback documents of the published configuration."""
    try:
        built = store.fallback_built()
        current = fallback.render_all(store.published(), home)
    except (RedisError, OSError, OnshoreError) as exc:
        return [f"cannot read the published configuration to compare its fallback: {exc}"]
    if not built:
        return [
            "no fallback documents were ever built for the published configuration: "
            "run `ivr fallback build OUT/ --redis-url ...` and host them"
        ]
    if built.get("digest") != current.digest:
        return [
            f"the published configuration changed since the fallback was built "
            f"({built.get('built_at', '?')}): run `ivr fallback build` again and host the files"
        ]
    return []


def cmd_fallback_build(args: argparse.Namespace) -> int:
    """Render one static TwiML document per number for its Fallback URL, and an index."""
    if args.redis_url:
        store = options.store(args)
        config, source = store.published(), f"published ({args.redis_url.split('@')[-1]})"
    else:
        config, _, errors = check_folder(Path(args.folder), home(args))
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            print("no fallback built: fix the problems above", file=sys.stderr)
            return 1
        source = f"files ({args.folder})"
    built = fallback.render_all(config, home(args))
    for note in built.notes:
        print(f"note: {note}", file=sys.stderr)
    if not built.documents:
        print("no fallback built: no number has a flow and a domestic destination", file=sys.stderr)
        return 1
    index = fallback.write(built, Path(args.out), source)
    if args.redis_url:
        store.record_fallback(built.digest, publisher(), len(built.documents))
    print(
        f"built {len(built.documents)} fallback documents in {args.out} (index {index}, "
        f"digest {built.digest[:12]})"
    )
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Validate, then publish to Redis atomically."""
    progress = Progress()
    _, sources, errors = check_folder(Path(args.folder), home(args), progress)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print("nothing published: fix the problems above", file=sys.stderr)
        return 1
    store = options.store(args)
    allowed = {i.strip() for item in args.allow_removal or [] for i in item.split(",") if i.strip()}
    with progress.phase("published {size} numbers, their centers and flows"):
        live = store.publish(sources, by=publisher(), message=args.message, allow_removal=allowed)
    for flow_id, version in sorted(live.items()):
        print(f"flow {flow_id}: version {version} live")
    print(f"published {len(sources.centers)} centers, {len(sources.numbers)} numbers")
    for note in _fallback_warnings(store, home(args)):
        print(f"note: {note}", file=sys.stderr)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Run a folder's scenarios (or one file's) without a phone or Redis; exit 1 on any failure."""
    path = Path(args.path)
    folder = path if path.is_dir() else path.parent
    config, _, errors = check_folder(folder, home(args))
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print(f"no scenario run: `ivr check {folder}` must pass first", file=sys.stderr)
        return 1
    found, errors = read_scenarios(path)
    scenarios = []
    for file, name, raw in found:
        if args.k and args.k not in name:
            continue
        scenario, problems = parse_scenario(name, raw, file, config)
        errors += problems
        if scenario is not None:
            scenarios.append(scenario)
    for error in errors:
        print(error, file=sys.stderr)
    if not scenarios and not errors:
        print(f"{path}: no scenarios" + (f" matching {args.k!r}" if args.k else ""), file=sys.stderr)
        return 1
    results = simulation.run(config, scenarios, home(args))
    for result in results:
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.scenario.name}")
        if not result.passed:
            print(simulation.explain(result))
        elif args.verbose:
            print("\n".join(f"    {line}" for line in result.outcome.lines))
    failed = sum(not r.passed for r in results)
    bad_files = f", {len(errors)} problem(s) in scenario files" if errors else ""
    print(f"{len(results)} scenarios: {len(results) - failed} passed, {failed} failed{bad_files}")
    return 1 if failed or errors else 0


def _center_seconds(item: str) -> tuple[str, int]:
    """--domestic-wait scranton=1200 as (center, seconds)."""
    center, _, seconds = item.partition("=")
    return center, int(seconds) if seconds.isdigit() else -1


def cmd_preview(args: argparse.Namespace) -> int:
    """Print what a caller of a number would hear; reads files (or Redis) and writes nothing."""
    if args.redis_url:
        config = options.store(args).published()
    else:
        config, _, errors = check_folder(Path(args.folder), home(args))
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            return 1
    presses = args.press.split(",") if args.press else []
    centers = {}
    for item in args.center or []:
        center, _, states = item.partition("=")
        centers[center] = states.split(",")
    raw = {
        "number": args.number,
        "at": args.at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M"),
        "timezone": args.tz,
        "from_country": args.from_country,
        "from_state": args.from_state,
        "from": args.from_,
        "inputs": [{"press": p, "during": args.barge_in} if p else "silence" for p in presses]
        + [{"say": s, "during": args.barge_in} for s in args.say or []],
        "centers": centers,
        "picks": args.pick or [],
        "wait": args.wait,
        "reserve": [site.strip() for item in args.reserve or [] for site in item.split(",")],
        "redis": "unreadable" if args.redis_unreadable else "readable",
        "domestic_waits": dict(_center_seconds(item) for item in args.domestic_wait or []),
        "callback_pending": args.callback_pending,
    }
    if args.lang:
        raw["language"] = args.lang
    scenario, errors = parse_scenario("preview", raw, "ivr preview", config, need_expect=False)
    if scenario is None:
        for error in errors:
            print(error, file=sys.stderr)
        return 2
    outcome = simulation.simulate(config, scenario, home(args))
    print(outcome)
    problems = [*outcome.errors, *simulation.verify(outcome, scenario.expect)]
    if outcome.drawn and not args.pick:
        problems.append(
            f"the weighted route drew {', '.join(outcome.drawn)} for this call; --pick CENTER draws another"
        )
    for problem in dict.fromkeys(problems):
        print(f"note: {problem}", file=sys.stderr)
    return 1 if outcome.errors else 0


def cmd_versions(args: argparse.Namespace) -> int:
    """Every published version of a flow, the live one marked."""
    rows = options.store(args).versions(args.flow)
    if not rows:
        print(f"flow {args.flow} has no published versions", file=sys.stderr)
        return 1
    for row in rows:
        mark = "*" if row["live"] else " "
        print(
            f"{mark} v{row['version']:<4} {row['published_at']:<21} {row['by']:<12} "
            f"{row['digest'][:12]}  {row['message']}"
        )
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """What changed between two versions of a flow, as a unified diff."""
    store = options.store(args)
    docs = [store.flow_doc(args.flow, v) for v in (args.a, args.b)]
    for version, doc in zip((args.a, args.b), docs, strict=True):
        if doc is None:
            print(f"flow {args.flow} has no version {version}", file=sys.stderr)
            return 1
    a, b = (
        json.dumps(d["flow"] if d else {}, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        for d in docs
    )
    diff = list(difflib.unified_diff(a, b, f"{args.flow} v{args.a}", f"{args.flow} v{args.b}", lineterm=""))
    print("\n".join(diff) if diff else f"v{args.a} and v{args.b} are the same")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Make an earlier version live again, after checking it against today's centers."""
    store = options.store(args)
    live = store.live_version(args.flow)
    older = [r["version"] for r in store.versions(args.flow) if live is None or r["version"] < live]
    target = args.version if args.version is not None else (older[-1] if older else None)
    doc = store.flow_doc(args.flow, target) if target is not None else None
    if target is None or doc is None:
        print(f"flow {args.flow}: no version to roll back to", file=sys.stderr)
        return 1
    problems = Problems(f"{args.flow} v{target}")
    flow = parse_flow(args.flow, doc["flow"], problems, version=target)
    config = Config(centers=store.centers(), numbers={}, flows={args.flow: flow}, policy=store.policy())
    errors = [
        *problems.fatal,
        *(FlowError(problems.file, w, f, m) for w, f, m in flow_problems(flow, config, home(args))),
    ]
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"not rolled back: v{target} does not fit today's configuration", file=sys.stderr)
        return 1
    previous = store.rollback(args.flow, target, by=publisher(), message=args.message)
    print(f"flow {args.flow}: version {target} live (was {previous}); calls in progress keep theirs")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = sub.add_parser("check", help="validate operator files without a server")
    check.add_argument("folder", nargs="?", default="flows")
    check.add_argument(
        "--redis-url",
        help="also warn when the published configuration's fallback documents are missing or out of date",
    )
    check.set_defaults(func=cmd_check)

    load = sub.add_parser("load", help="validate and publish to Redis")
    load.add_argument("folder", nargs="?", default="flows")
    load.add_argument("--redis-url", default=options.redis_url())
    load.add_argument("-m", "--message", default="", help="why this change")
    load.add_argument(
        "--allow-removal",
        action="append",
        metavar="ID[,ID]",
        help="a live number or center this publish may remove (repeatable)",
    )
    load.set_defaults(func=cmd_load)

    test = sub.add_parser("test", help="run the scenarios of a folder or file without a phone")
    test.add_argument("path", nargs="?", default="flows", help="a folder, or one scenario file in it")
    test.add_argument("-k", default="", help="only scenarios whose name contains this")
    test.add_argument("-v", "--verbose", action="store_true", help="print every transcript")
    test.set_defaults(func=cmd_test)

    preview = sub.add_parser("preview", help="what a caller would hear; no Redis writes")
    preview.add_argument("number", type=options.e164, help="the number dialed, E.164")
    preview.add_argument("--folder", default="flows", help="operator files (default: flows)")
    preview.add_argument("--redis-url", help="read the published configuration instead (read only)")
    preview.add_argument("--at", help="when: 2026-11-30T10:00 (in --tz) or with an offset; default now")
    preview.add_argument("--tz", default="UTC", help="time zone of an --at without offset (UTC)")
    preview.add_argument("--lang", help="the call's starting language code, e.g. es")
    preview.add_argument("--press", default="", help="keys per prompt, comma-separated: 2,,1")
    preview.add_argument("--say", action="append", help="words said at the next prompt after the keys")
    preview.add_argument(
        "--barge-in", action="store_true", help="press and say while each prompt still plays (which cuts it)"
    )
    preview.add_argument(
        "--center",
        action="append",
        metavar="ID=STATE[,STATE]",
        help="e.g. manila=closed or scranton=busy,answered (repeatable)",
    )
    preview.add_argument(
        "--pick",
        action="append",
        metavar="CENTER",
        help="the center a weighted route draws (repeatable, in order)",
    )
    preview.add_argument(
        "--reserve",
        action="append",
        metavar="WORKER_SITE",
        help="a TaskRouter workflow reserves a worker at this site (repeatable, or comma-separated, "
        "in turn: each but the last does not answer)",
    )
    preview.add_argument(
        "--wait",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds on hold before a queue's agent answers (or hold-transfer)",
    )
    preview.add_argument(
        "--domestic-wait",
        action="append",
        metavar="CENTER=SECONDS",
        help="the estimated wait of a domestic destination's queue (its recent waits), e.g. scranton=1200",
    )
    preview.add_argument(
        "--callback-pending", action="store_true", help="the caller has an open callback when calling"
    )
    preview.add_argument(
        "--redis-unreadable",
        action="store_true",
        help="as if Redis could not be read: the flow's on_lookup_failure",
    )
    preview.add_argument("--from-country", default="US", help="Twilio's FromCountry")
    preview.add_argument("--from-state", default="", help="Twilio's FromState")
    preview.add_argument(
        "--from",
        dest="from_",
        default="+12025550143",
        help="the caller's ID as Twilio posts it (a number, anonymous, ...)",
    )
    preview.set_defaults(func=cmd_preview)

    versions = sub.add_parser("versions", help="published versions of a flow")
    versions.add_argument("flow")
    versions.set_defaults(func=cmd_versions)
    diff = sub.add_parser("diff", help="what changed between two versions of a flow")
    diff.add_argument("flow")
    diff.add_argument("a", type=options.version)
    diff.add_argument("b", type=options.version)
    diff.set_defaults(func=cmd_diff)
    rollback = sub.add_parser("rollback", help="make an earlier version of a flow live")
    rollback.add_argument("flow")
    rollback.add_argument(
        "version", type=options.version, nargs="?", help="default: the one before the live one"
    )
    rollback.add_argument("-m", "--message", default="", help="why")
    rollback.set_defaults(func=cmd_rollback)
    for p in (versions, diff, rollback):
        p.add_argument("--redis-url", default=options.redis_url())

    fall = sub.add_parser("fallback", help="static TwiML for the numbers' Fallback URLs")
    fall_sub = fall.add_subparsers(dest="fallback_command", required=True)
    fall_build = fall_sub.add_parser("build", help="one document per number, and an index")
    fall_build.add_argument("out", help="the folder to write (served as static files)")
    fall_build.add_argument("--folder", default="flows", help="operator files (default: flows)")
    fall_build.add_argument(
        "--redis-url",
        help="build from the published configuration "
        "instead, and record the build for `ivr check --redis-url`",
    )
    fall_build.set_defaults(func=cmd_fallback_build)
