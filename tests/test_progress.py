"""`ivr check` and `ivr load` say how far they got on long runs (stderr), and stay quiet for a
small folder off a terminal."""

from __future__ import annotations

import io
from pathlib import Path

from ivr import keys
from ivr.check import check_folder
from ivr.cli import main
from ivr.progress import LARGE, Progress
from tests.test_check import CENTERS, SUPPORT


def folder_of(tmp: Path, numbers: int) -> Path:
    folder = tmp / f"flows-{numbers}"
    folder.mkdir()
    (folder / "centers.toml").write_text(CENTERS)
    (folder / "support.toml").write_text(SUPPORT)
    (folder / "numbers.toml").write_text(
        "".join(f'[numbers."+1800{2_000_000 + n}"]\nflow = "support"\n' for n in range(numbers))
    )
    return folder


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_small_folder_off_a_terminal_prints_no_progress(tmp_path, capsys):
    assert main(["check", str(folder_of(tmp_path, 3))]) == 0
    assert "parsed" not in capsys.readouterr().err


def test_a_large_load_prints_each_phase(tmp_path, capsys, redis_server, redis_client):
    folder = folder_of(tmp_path, LARGE)
    assert main(["load", str(folder), "--redis-url", redis_server.url]) == 0
    err = capsys.readouterr().err
    for phase in (
        "read 10,000 numbers in ",
        "parsed 10,000 numbers",
        "checked 10,000 numbers",
        "published 10,000 numbers, their centers and flows in ",
    ):
        assert phase in err, err
    assert "\r" not in err  # no running count off a terminal
    assert redis_client.hlen(keys.NUMBERS) == LARGE


def test_a_terminal_gets_a_running_count(tmp_path):
    terminal = Terminal()
    _, _, errors = check_folder(folder_of(tmp_path, 12_000), "US", Progress(terminal))
    assert not errors
    shown = terminal.getvalue()
    assert "\rparsing numbers 5,000/12,000" in shown and "\rparsing numbers 10,000/12,000" in shown
    assert "checked 12,000 numbers" in shown
