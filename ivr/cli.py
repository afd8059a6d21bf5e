"""The ``ivr`` command: check, load, test and try flows without a phone."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from redis.exceptions import AuthenticationError, RedisError, ResponseError

from ivr import anchors, archive, audit, fallback, keyring, period, report, simulation
from ivr.archive import HOT_DAYS
from ivr.caller import Caller, ImpossibleOutcome, Phone, Transport
from ivr.check import check_folder, flow_problems
from ivr.errors import (
    CircuitOpen,
    FlowError,
    OnshoreError,
    PeriodError,
    SettingsError,
    StoreUnavailable,
)
from ivr.evidence import Keyring
from ivr.flow import Config
from ivr.flowfile import Problems, parse_flow
from ivr.progress import Progress
from ivr.scenarios import parse_scenario, read_scenarios
from ivr.settings import Settings, refuse_placeholder
from ivr.spool import Spool
from ivr.store import Store, connect, publisher

# Exit codes (the README's "Exit codes" lists them): what went wrong, for scripts and timers.
FINDING, USAGE, REDIS_DOWN, FILE_PROBLEM, NO_SERVER, UNVERIFIED, SETTINGS = 1, 2, 3, 4, 5, 6, 7
PING_TIMEOUT = 1.0  # a hung Redis is told in a second; the commands' reads then get 5 s


class ServerUnreachable(OnshoreError):
    """`ivr call --url`: no server answered there."""


def _version(text: str) -> int:
    """A flow version as `ivr versions` shows it (v3) or bare (3)."""
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a version like 3 or v3")
    return int(digits)


def _e164(text: str) -> str:
    """A number dialed, as Twilio posts it: E.164, with its +."""
    if not (text.startswith("+") and text[1:].isdigit() and 8 <= len(text) <= 16):
        raise argparse.ArgumentTypeError(
            f"'{text}' is not an E.164 number like +18005550100 (a + and the country code first)"
        )
    return text


def _home(args: argparse.Namespace) -> str:
    return (args.home_country or os.environ.get("IVR_HOME_COUNTRY") or "US").upper()


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a folder of operator files; print every problem (and, with --redis-url, warn
    when the published configuration's fallback documents are not built)."""
    config, _, errors = check_folder(Path(args.folder), _home(args), Progress())
    for error in errors:
        print(error, file=sys.stderr)
    if args.redis_url:
        for warning in _fallback_warnings(Store(connect(args.redis_url, timeout=5.0)), _home(args)):
            print(f"warning: {warning}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} problem(s) in {args.folder}", file=sys.stderr)
        return 1
    print(
        f"{args.folder}: {len(config.centers)} centers, {len(config.numbers)} numbers, "
        f"{len(config.flows)} flows: OK"
    )
    return 0


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
        store = _store(args)
        config, source = store.published(), f"published ({args.redis_url.split('@')[-1]})"
    else:
        config, _, errors = check_folder(Path(args.folder), _home(args))
        for error in errors:
            print(error, file=sys.stderr)
        if errors:
            print("no fallback built: fix the problems above", file=sys.stderr)
            return 1
        source = f"files ({args.folder})"
    built = fallback.render_all(config, _home(args))
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
    _, sources, errors = check_folder(Path(args.folder), _home(args), progress)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        print("nothing published: fix the problems above", file=sys.stderr)
        return 1
    store = _store(args)
    allowed = {i.strip() for item in args.allow_removal or [] for i in item.split(",") if i.strip()}
    with progress.phase("published {size} numbers, their centers and flows"):
        live = store.publish(sources, by=publisher(), message=args.message, allow_removal=allowed)
    for flow_id, version in sorted(live.items()):
        print(f"flow {flow_id}: version {version} live")
    print(f"published {len(sources.centers)} centers, {len(sources.numbers)} numbers")
    for note in _fallback_warnings(store, _home(args)):
        print(f"note: {note}", file=sys.stderr)
    return 0


def _http_transport() -> Transport:
    import requests

    session = requests.Session()

    def send(
        url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, str, str]:
        r = session.request(method, url, data=params or None, headers=headers, timeout=15)
        return r.status_code, r.headers.get("Content-Type", ""), r.text

    return send


def _app_transport(token: str) -> Transport:
    from ivr import create_app

    client = create_app({"testing": True, "auth_token": token}).test_client()

    def send(
        url: str, params: dict[str, str], headers: dict[str, str], method: str = "POST"
    ) -> tuple[int, str, str]:
        r = client.open(url, method=method, data=params or None, headers=headers)
        return r.status_code, r.content_type or "", r.get_data(as_text=True)

    return send


def cmd_call(args: argparse.Namespace) -> int:
    """Play one call and print what the caller hears and where the call goes."""
    if args.url:
        token = args.token or os.environ.get("TWILIO_AUTH_TOKEN", "")
        if not token:
            print("--url needs the server's auth token (--token or TWILIO_AUTH_TOKEN)", file=sys.stderr)
            return USAGE
        phone = Phone(args.url, token, _http_transport(), status_method=args.status_method)
    else:
        token = secrets.token_hex(16)
        phone = Phone("http://localhost", token, _app_transport(token), status_method=args.status_method)
    caller = Caller(
        to=args.number,
        from_=args.from_,
        from_country=args.from_country,
        press=args.press,
        say=args.say,
        outcomes=args.outcome or [],
        barge_in=args.barge_in,
        wait=args.wait,
        hold_press=args.hold_press,
    )
    try:
        transcript = phone.call(caller)
    except ImpossibleOutcome as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:  # requests' errors are OSErrors: nothing listens there, or it hung
        raise ServerUnreachable(
            f"no server answered at {args.url} ({type(exc).__name__}): start it (make run) or fix --url"
        ) from exc
    print(transcript)
    from ivr.webhooks import GENERIC_APOLOGY  # here: `ivr check` need not import Flask

    if transcript.heard == [GENERIC_APOLOGY] and not transcript.bridges:
        print(
            f"ivr call: {args.number} reached no flow: it is not a published number (ivr load "
            "flows/), or the server holds no configuration",
            file=sys.stderr,
        )
        return FINDING
    return 0 if all(s == 200 for s in transcript.statuses) else 1


def cmd_test(args: argparse.Namespace) -> int:
    """Run a folder's scenarios (or one file's) without a phone or Redis; exit 1 on any failure."""
    path = Path(args.path)
    folder = path if path.is_dir() else path.parent
    config, _, errors = check_folder(folder, _home(args))
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
    results = simulation.run(config, scenarios, _home(args))
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


def cmd_preview(args: argparse.Namespace) -> int:
    """Print what a caller of a number would hear; reads files (or Redis) and writes nothing."""
    if args.redis_url:
        config = _store(args).published()
    else:
        config, _, errors = check_folder(Path(args.folder), _home(args))
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
        "redis": "unreadable" if args.redis_unreadable else "readable",
    }
    if args.lang:
        raw["language"] = args.lang
    scenario, errors = parse_scenario("preview", raw, "ivr preview", config, need_expect=False)
    if scenario is None:
        for error in errors:
            print(error, file=sys.stderr)
        return 2
    outcome = simulation.simulate(config, scenario, _home(args))
    print(outcome)
    problems = [*outcome.errors, *simulation.verify(outcome, scenario.expect)]
    if outcome.drawn and not args.pick:
        problems.append(
            f"the weighted route drew {', '.join(outcome.drawn)} for this call; --pick CENTER draws another"
        )
    for problem in dict.fromkeys(problems):
        print(f"note: {problem}", file=sys.stderr)
    return 1 if outcome.errors else 0


def _store(args: argparse.Namespace) -> Store:
    """The store at --redis-url, once it answered a PING within a second."""
    refuse_placeholder("--redis-url", args.redis_url)
    connect(args.redis_url, timeout=PING_TIMEOUT).ping()
    return Store(connect(args.redis_url, timeout=5.0))


def _keyring() -> Keyring | None:
    """The evidence keys from the environment; None (MACs unchecked) without them."""
    settings = Settings.from_env(os.environ, {"testing": True})
    return keyring(settings) if settings.caller_hash_key else None


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """Walk the whole record; name the first broken link."""
    keys = _keyring()
    try:
        logged = anchors.read(Path(args.anchors)) if args.anchors else []
    except (OSError, ValueError) as exc:
        print(f"cannot read the anchor log {args.anchors}: {exc}", file=sys.stderr)
        return 1
    verdict = audit.verify(_store(args), keys, logged, _folder(args))
    if not verdict.intact:
        print(f"BROKEN at {verdict.broken_at} (entry {verdict.entries}): {verdict.problem}")
        return 1
    unverified = _unverified_macs(verdict, keys is not None)
    note = ""
    if verdict.anchors:
        note += f", held to {verdict.anchors} anchors, the last of {verdict.last_anchor}"
    else:
        note += (
            " (no anchors: erasure by the webhooks' Redis user would not show; run "
            "ivr audit anchor with the auditor's credentials on a timer)"
        )
    if unverified and not args.accept_unverified_macs:
        print(
            f"chain intact, MACs NOT VERIFIED: {verdict.entries} entries; {unverified}{note}; "
            "set the keys, or pass --accept-unverified-macs to accept that"
        )
        return UNVERIFIED
    print(
        f"intact: {verdict.entries} entries"
        + (f" (accepted unverified: {unverified})" if unverified else "")
        + note
    )
    return 0


def _unverified_macs(verdict: audit.Verdict, have_keys: bool) -> str:
    """What `ivr audit verify` could not check: the MACs without a key; "" when none."""
    if not have_keys:
        return "no entry's MAC was checked: IVR_CALLER_HASH_KEY is not set"
    if verdict.unknown_keys:
        return (
            f"{verdict.unknown_keys} entries' MACs were not checked: their key ids are not "
            "configured here (IVR_CALLER_HASH_KEY_ID, IVR_CALLER_HASH_KEYS_OLD)"
        )
    return ""


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    """Record the record's high-water mark (with the auditor's credentials), also in the
    local log; with --every, again and again. Exit 1 when the record lost what an earlier
    anchor attested."""
    refuse_placeholder("--redis-url", args.redis_url)
    # no PING first: a timer that starts while Redis is down goes on trying
    store, log = Store(connect(args.redis_url, timeout=5.0)), Path(args.log) if args.log else None
    while True:
        try:
            taken, problem = audit.anchor(store, datetime.now(UTC))
        except (RedisError, OSError) as exc:  # the timer goes on: the next run may reach it
            taken, problem = None, f"cannot read the record: {exc}"
        if problem:
            print(f"ALARM: {problem}", file=sys.stderr, flush=True)
        elif taken is not None:
            if log is not None:
                anchors.append(log, taken)
            print(f"anchored {taken.count} entries up to {taken.last} ({taken.hash[:12]})", flush=True)
        if not args.every:
            return 1 if problem else 0
        time.sleep(args.every)


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Export a range of days to a file and record that it was exported."""
    start, end = period.parse(args.from_, args.to)
    count, digest = audit.export(_store(args), start, end, args.format, Path(args.out))
    print(f"exported {count} entries to {args.out} (sha256 {digest})")
    return 0


def _folder(args: argparse.Namespace) -> Path | None:
    return Path(args.archive) if args.archive else None


def cmd_audit_archive(args: argparse.Namespace) -> int:
    """Move complete days older than the hot window to day files, then prune them."""
    if not args.archive:
        print("no archive folder: set IVR_ARCHIVE_DIR or pass --archive", file=sys.stderr)
        return 2
    if not 1 <= args.hot_days <= period.MAX_DAYS * 10:
        raise PeriodError(f"hot-days {args.hot_days} must be 1 to {period.MAX_DAYS * 10}")
    written, why = archive.archive(_store(args), Path(args.archive), args.hot_days, datetime.now(UTC).date())
    for day in written:
        print(f"archived {day.count} entries of {day.day} to {day.file} (sha256 {day.sha256})")
    if why:
        print(f"stopped: {why}", file=sys.stderr)
        return 1
    if not written:
        print(f"nothing to archive: no complete day older than {args.hot_days} days in Redis")
    return 0


def cmd_audit_prune(args: argparse.Namespace) -> int:
    """Delete exported entries older than the retention period."""
    before = period.day(args.before, "before")
    if not 0 <= args.retention_days <= period.MAX_DAYS * 10:
        raise PeriodError(f"retention-days {args.retention_days} must be 0 to {period.MAX_DAYS * 10}")
    removed, why = audit.prune(_store(args), before, args.retention_days, datetime.now(UTC).date())
    print(f"pruned {removed} entries" if removed else f"nothing pruned: {why}")
    return 0 if removed or "no entries" in why else 1


def cmd_audit_replay(args: argparse.Namespace) -> int:
    """Send spooled evidence to Redis now."""
    store = _store(args)
    sent = Spool(Path(args.spool)).replay(store.append)
    print(f"replayed {sent} spooled event(s) from {args.spool}")
    return 0


def cmd_call_record(args: argparse.Namespace) -> int:
    """Print one call's whole record, in order, with its chain status."""
    found = False
    for entry_id, fields, status in audit.call_record(_store(args), _keyring(), args.call_sid):
        found = True
        shown = {k: v for k, v in fields.items() if k not in ("call", "prev", "hash", "mac", "kid")}
        print(f"{entry_id}  [{status}]")
        for name, value in shown.items():
            print(f"    {name}: {value}")
    if not found:
        print(f"no record of call {args.call_sid}", file=sys.stderr)
        return 1
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    """Every published version of a flow, the live one marked."""
    rows = _store(args).versions(args.flow)
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
    store = _store(args)
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
    store = _store(args)
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
        *(FlowError(problems.file, w, f, m) for w, f, m in flow_problems(flow, config, _home(args))),
    ]
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"not rolled back: v{target} does not fit today's configuration", file=sys.stderr)
        return 1
    previous = store.rollback(args.flow, target, by=publisher(), message=args.message)
    print(f"flow {args.flow}: version {target} live (was {previous}); calls in progress keep theirs")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The compliance report of a period, in the format asked for."""
    start, end = period.parse(args.from_, args.to)
    events = report.as_events(audit.period(_store(args), start, end, _folder(args)))
    built = report.build_report(events, start, end, args.flow, _home(args))
    print(report.render(built, args.format), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=__doc__)
    parser.add_argument("--home-country", help="ISO code of the home country (IVR_HOME_COUNTRY)")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate operator files without a server")
    check.add_argument("folder", nargs="?", default="flows")
    check.add_argument(
        "--redis-url",
        help="also warn when the published configuration's fallback documents are missing or out of date",
    )
    check.set_defaults(func=cmd_check)

    load = sub.add_parser("load", help="validate and publish to Redis")
    load.add_argument("folder", nargs="?", default="flows")
    load.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    load.add_argument("-m", "--message", default="", help="why this change")
    load.add_argument(
        "--allow-removal",
        action="append",
        metavar="ID[,ID]",
        help="a live number or center this publish may remove (repeatable)",
    )
    load.set_defaults(func=cmd_load)

    call = sub.add_parser("call", help="play a call without a phone")
    call.add_argument("number", type=_e164, help="the number dialed, E.164")
    call.add_argument("--url", help="a running server's base URL; default: in-process")
    call.add_argument("--token", help="the server's TWILIO_AUTH_TOKEN (with --url)")
    call.add_argument("--press", default="", help="keys per prompt, comma-separated: 2,,1")
    call.add_argument(
        "--say",
        default="",
        help="words said at the first prompt after the "
        "--press answers (with no --press: the first prompt, e.g. a language menu)",
    )
    call.add_argument(
        "--barge-in", action="store_true", help="press and say while each prompt still plays (which cuts it)"
    )
    call.add_argument("--from", dest="from_", default="+12025550143", help="caller's number")
    call.add_argument("--from-country", default="US", help="Twilio's FromCountry")
    call.add_argument(
        "--status-method",
        choices=("POST", "GET"),
        default="POST",
        help="how the number's status callback is configured (default POST)",
    )
    call.add_argument(
        "--outcome",
        action="append",
        help="how each bridge ends: completed, failed, hangup (the caller "
        "hangs up first), a Dial also busy, no-answer, a queue any other "
        "QueueResult (repeatable)",
    )
    call.add_argument(
        "--wait",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds on hold before a queue's agent answers",
    )
    call.add_argument("--hold-press", default="", metavar="KEY", help="a key pressed on hold (after --wait)")
    call.set_defaults(func=cmd_call)

    test = sub.add_parser("test", help="run the scenarios of a folder or file without a phone")
    test.add_argument("path", nargs="?", default="flows", help="a folder, or one scenario file in it")
    test.add_argument("-k", default="", help="only scenarios whose name contains this")
    test.add_argument("-v", "--verbose", action="store_true", help="print every transcript")
    test.set_defaults(func=cmd_test)

    preview = sub.add_parser("preview", help="what a caller would hear; no Redis writes")
    preview.add_argument("number", type=_e164, help="the number dialed, E.164")
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
        "--wait",
        type=int,
        default=0,
        metavar="SECONDS",
        help="seconds on hold before a queue's agent answers (or hold-transfer)",
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

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    archive_dir = os.environ.get("IVR_ARCHIVE_DIR", "")
    versions = sub.add_parser("versions", help="published versions of a flow")
    versions.add_argument("flow")
    versions.set_defaults(func=cmd_versions)
    diff = sub.add_parser("diff", help="what changed between two versions of a flow")
    diff.add_argument("flow")
    diff.add_argument("a", type=_version)
    diff.add_argument("b", type=_version)
    diff.set_defaults(func=cmd_diff)
    rollback = sub.add_parser("rollback", help="make an earlier version of a flow live")
    rollback.add_argument("flow")
    rollback.add_argument("version", type=_version, nargs="?", help="default: the one before the live one")
    rollback.add_argument("-m", "--message", default="", help="why")
    rollback.set_defaults(func=cmd_rollback)
    for p in (versions, diff, rollback):
        p.add_argument("--redis-url", default=redis_url)

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

    rep = sub.add_parser("report", help="compliance report of a period")
    rep.add_argument("--from", dest="from_", required=True)
    rep.add_argument("--to", required=True)
    rep.add_argument("--flow", help="only calls of this flow")
    rep.add_argument("--format", choices=report.FORMATS, default="text")
    rep.add_argument("--redis-url", default=redis_url)
    rep.add_argument("--archive", default=archive_dir, help="day files of older evidence")
    rep.set_defaults(func=cmd_report)

    record = sub.add_parser("call-record", help="one call's whole evidence record")
    record.add_argument("call_sid")
    record.add_argument("--redis-url", default=redis_url)
    record.set_defaults(func=cmd_call_record)

    audit_parser = sub.add_parser("audit", help="verify, export, prune and replay evidence")
    audit_sub = audit_parser.add_subparsers(dest="audit_command", required=True)
    anchor_log = os.environ.get("IVR_ANCHOR_LOG", "")
    verify = audit_sub.add_parser("verify", help="check the hash chain, MACs and anchors")
    verify.add_argument(
        "--anchors", default=anchor_log, help="a local anchor log to hold the record to as well"
    )
    verify.add_argument(
        "--archive",
        default=archive_dir,
        help="day files of older evidence, verified with Redis as one record",
    )
    verify.add_argument(
        "--accept-unverified-macs",
        action="store_true",
        help="exit 0 although some MACs could not be checked (no key for them)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    anchor = audit_sub.add_parser("anchor", help="record the high-water mark (auditor user)")
    anchor.add_argument("--log", default=anchor_log, help="also append it to this local file")
    anchor.add_argument(
        "--every", type=float, default=0.0, help="seconds between anchors; 0: once (for a timer)"
    )
    anchor.set_defaults(func=cmd_audit_anchor)
    export = audit_sub.add_parser("export", help="export days of evidence to a file")
    export.add_argument("--from", dest="from_", required=True)
    export.add_argument("--to", required=True)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--out", required=True)
    export.set_defaults(func=cmd_audit_export)
    prune = audit_sub.add_parser("prune", help="delete exported evidence past retention")
    prune.add_argument("--before", required=True)
    prune.add_argument("--retention-days", type=int, default=int(os.environ.get("IVR_RETENTION_DAYS", "400")))
    prune.set_defaults(func=cmd_audit_prune)
    moved = audit_sub.add_parser("archive", help="move days past the hot window to day files")
    moved.add_argument("--archive", default=archive_dir, help="the archive folder")
    moved.add_argument("--hot-days", type=int, default=int(os.environ.get("IVR_HOT_DAYS", str(HOT_DAYS))))
    moved.set_defaults(func=cmd_audit_archive)
    replay = audit_sub.add_parser("replay", help="send spooled evidence to Redis")
    replay.add_argument("--spool", default=os.environ.get("IVR_SPOOL_DIR", "spool"))
    replay.set_defaults(func=cmd_audit_replay)
    for p in (verify, anchor, export, prune, moved, replay):
        p.add_argument("--redis-url", default=redis_url)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code, never a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (StoreUnavailable, RedisError) as exc:
        if (
            isinstance(exc, StoreUnavailable)
            and not isinstance(exc, CircuitOpen)
            and not isinstance(exc.__cause__, RedisError | OSError)
        ):
            print(f"ivr: {exc}", file=sys.stderr)  # Redis answered: e.g. no such version
            return FINDING
        print(f"ivr: {_redis_problem(getattr(args, 'redis_url', None), exc)}", file=sys.stderr)
        return REDIS_DOWN
    except OnshoreError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return (
            NO_SERVER
            if isinstance(exc, ServerUnreachable)
            else SETTINGS
            if isinstance(exc, SettingsError)
            else FINDING
        )
    except OSError as exc:
        print(
            f"ivr: cannot use {exc.filename or 'a file'}: {exc.strerror or exc}: "
            "check that its folder exists and may be written",
            file=sys.stderr,
        )
        return FILE_PROBLEM


def _redis_problem(url: str | None, exc: Exception) -> str:
    """One line for a Redis that did not answer or refused, without the URL's password."""
    parts = urlsplit(url or "")
    where = f"Redis at {parts.hostname or '?'}:{parts.port or 6379}"
    if isinstance(exc, AuthenticationError | ResponseError):
        return f"{where} refused: {exc}: check the user and password in --redis-url (REDIS_URL)"
    reason = str(exc).split("\n")[0] or type(exc).__name__
    return f"{where} did not answer ({reason}): start it, or point --redis-url (REDIS_URL) at the one to use"


if __name__ == "__main__":
    sys.exit(main())
