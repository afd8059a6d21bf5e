"""The ``ivr`` command line: the top-level options, and every command group's subcommands.

A command group is a module of this package with a function ``add_commands(sub)`` that adds
its subcommands to ``sub`` (``sub.add_parser(...)``, each with ``set_defaults(func=...)``, a
function of the parsed arguments returning the exit code). The groups are found here by
looking at the package's modules, so a new group is one new file; ``--help`` lists them in the
order of ``FIRST``, then the others by module name.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

DESCRIPTION = "The ``ivr`` command: check, load, test and try flows without a phone."
FIRST = ("flows", "calls", "reports", "audit")  # the order of --help's list, before any others


def command_groups() -> list[ModuleType]:
    """The modules of this package that add commands, in --help's order."""
    here = [info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)])]
    names = [name for name in here if not name.startswith("_")]  # not __main__: it runs ivr
    ordered = [n for n in FIRST if n in names] + sorted(n for n in names if n not in FIRST)
    modules = [importlib.import_module(f"{__package__}.{name}") for name in ordered]
    return [module for module in modules if hasattr(module, "add_commands")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description=DESCRIPTION)
    parser.add_argument("--home-country", help="ISO code of the home country (IVR_HOME_COUNTRY)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in command_groups():
        group.add_commands(sub)
    return parser
