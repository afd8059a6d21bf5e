"""The `ivr` command line (ivr/cli/parser.py, ivr/cli/exits.py): every command group is found,
every command runs a function, and every kind of failure is one line and its own exit code."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from redis.exceptions import AuthenticationError, ConnectionError

from ivr.cli import FILE_PROBLEM, FINDING, NO_SERVER, REDIS_DOWN, SETTINGS, build_parser, exits, main
from ivr.cli.parser import command_groups
from ivr.errors import PeriodError, SettingsError, StoreUnavailable
from tests.conftest import one_line
from tests.servers import ROOT

COMMANDS = {
    "ivr.cli.flows": ["check", "load", "test", "preview", "versions", "diff", "rollback", "fallback"],
    "ivr.cli.calls": ["call", "call-record"],
    "ivr.cli.reports": ["report"],
    "ivr.cli.audit": ["audit"],
}


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_each_group_module_adds_its_commands_in_help_order():
    """The four first groups in this order; a group added since (a new module) comes after."""
    groups = [m.__name__ for m in command_groups()]
    assert groups[: len(COMMANDS)] == list(COMMANDS)
    assert groups[len(COMMANDS) :] == sorted(groups[len(COMMANDS) :])
    first = [c for group in COMMANDS.values() for c in group]
    assert list(_commands(build_parser()))[: len(first)] == first


def test_every_command_runs_a_function_and_says_what_it_does():
    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        inner = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not inner:
            yield path, parser
            return
        for name, child in inner[0].choices.items():
            yield from leaves(child, (*path, name))

    found = dict(leaves(build_parser(), ()))
    assert ("audit", "verify") in found and ("fallback", "build") in found and len(found) >= 17
    for path, parser in found.items():
        assert callable(parser.get_default("func")), path
        assert parser.format_help().startswith(f"usage: ivr {' '.join(path)}"), path


def test_the_console_entry_point_and_python_dash_m_run_the_same_command():
    entry = [line for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("ivr =")]
    assert entry == ['ivr = "ivr.cli:main"']
    ran = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "check", str(ROOT / "flows")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ran.returncode == 0 and ran.stdout.endswith("2 flows: OK\n"), ran.stderr


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as usage:
        main([])
    assert usage.value.code == 2
    assert "the following arguments are required: command" in capsys.readouterr().err


def _failing(exc: BaseException):
    def func(args: argparse.Namespace) -> int:
        raise exc

    return func


@pytest.mark.parametrize(
    "exc, code, line",
    [
        (StoreUnavailable("flow support has no version 9"), FINDING, "ivr: flow support has no version 9"),
        (PeriodError("the period ends (1) before it starts (2)"), FINDING, "ivr: the period ends"),
        (SettingsError("REDIS_URL still holds a CHANGE-ME placeholder"), SETTINGS, "ivr: REDIS_URL still"),
        (exits.ServerUnreachable("no server answered at http://x"), NO_SERVER, "ivr: no server answered"),
        (
            ConnectionError("Error 111 connecting\nsecond line"),
            REDIS_DOWN,
            "ivr: Redis at db.example:6390 did not answer (Error 111 connecting): start it",
        ),
        (
            AuthenticationError("invalid username-password pair"),
            REDIS_DOWN,
            "ivr: Redis at db.example:6390 refused: invalid username-password pair: check the user",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "/x/y"),
            FILE_PROBLEM,
            "ivr: cannot use /x/y: No such",
        ),
        (PermissionError("denied"), FILE_PROBLEM, "ivr: cannot use a file: denied: check that its folder"),
    ],
)
def test_each_kind_of_failure_is_one_line_and_its_exit_code(exc, code, line, capsys):
    args = argparse.Namespace(func=_failing(exc), redis_url="redis://user:secret@db.example:6390/0")
    assert exits.run(args) == code
    err = one_line(capsys)
    assert err.startswith(line) and "secret" not in err, err
