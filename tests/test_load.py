"""`ivr load` through the CLI against a real redis-server: a truncated or empty operator
folder never takes live numbers or centers offline unless each is named for removal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.store import Store, connect
from tests.test_check import CENTERS, NUMBERS, SUPPORT

SECOND_NUMBER = '\n[numbers."+18885550199"]\nflow = "support"\n'
SPARE_CENTER = """
[centers.cebu]
city = "Cebu"
country = "PH"
timezone = "Asia/Manila"
connect = { queue = "acme-cebu" }
"""


def write(
    folder: Path,
    centers: str = CENTERS + SPARE_CENTER,
    numbers: str = NUMBERS + SECOND_NUMBER,
    support: str = SUPPORT,
) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for name, text in (("centers", centers), ("numbers", numbers), ("support", support)):
        if text:
            (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def live(tmp_path, redis_server, redis_client):
    """Two numbers and four centers published through `ivr load`; returns the redis URL."""
    assert main(["load", str(write(tmp_path / "flows")), "--redis-url", redis_server.url]) == 0
    return redis_server.url


def published(url: str) -> tuple[set[str], set[str]]:
    config = Store(connect(url, timeout=5)).published()
    return set(config.numbers), set(config.centers)


def test_empty_folder_is_an_error_in_check(tmp_path, capsys):
    (tmp_path / "empty.toml").write_text("", encoding="utf-8")

    assert main(["check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: field 'numbers': no number is defined" in err
    assert "OK" not in err


def test_folder_without_numbers_is_an_error_in_check(tmp_path, capsys):
    folder = write(tmp_path / "flows", numbers="")

    assert main(["check", str(folder)]) == 1
    assert "no number is defined" in capsys.readouterr().err


def test_empty_folder_publishes_nothing(tmp_path, live, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "all.toml").write_text("# truncated\n", encoding="utf-8")

    assert main(["load", str(empty), "--redis-url", live]) == 1
    assert "nothing published" in capsys.readouterr().err
    assert published(live) == ({"+18005550100", "+18885550199"}, {"manila", "bangalore", "scranton", "cebu"})


def test_dropping_a_live_number_or_center_is_refused_naming_each(tmp_path, live, capsys):
    folder = write(tmp_path / "flows", centers=CENTERS, numbers=NUMBERS)

    assert main(["load", str(folder), "--redis-url", live]) == 1
    err = capsys.readouterr().err
    assert "number +18885550199" in err and "center cebu" in err and "--allow-removal" in err
    assert published(live) == ({"+18005550100", "+18885550199"}, {"manila", "bangalore", "scranton", "cebu"})


def test_naming_only_some_removals_still_refuses(tmp_path, live, capsys):
    folder = write(tmp_path / "flows", centers=CENTERS, numbers=NUMBERS)

    assert main(["load", str(folder), "--redis-url", live, "--allow-removal", "cebu"]) == 1
    err = capsys.readouterr().err
    assert "number +18885550199" in err and "center cebu" not in err
    assert "cebu" in published(live)[1]


def test_removal_named_for_each_id_is_published(tmp_path, live):
    folder = write(tmp_path / "flows", centers=CENTERS, numbers=NUMBERS)

    assert (
        main(
            [
                "load",
                str(folder),
                "--redis-url",
                live,
                "--allow-removal",
                "+18885550199",
                "--allow-removal",
                "cebu",
            ]
        )
        == 0
    )
    assert published(live) == ({"+18005550100"}, {"manila", "bangalore", "scranton"})


def test_adding_and_changing_needs_no_permission(tmp_path, live):
    folder = write(
        tmp_path / "flows", numbers=NUMBERS + SECOND_NUMBER + '\n[numbers."+18775550123"]\nflow = "support"\n'
    )

    assert main(["load", str(folder), "--redis-url", live]) == 0
    assert "+18775550123" in published(live)[0]
