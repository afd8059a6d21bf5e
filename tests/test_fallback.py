"""When every app host is down: the numbers' Fallback URLs serve static TwiML built by
`ivr fallback build`. Built from a real redis-server's published configuration, then Redis is
killed, no app runs at all, and calls are played through python's http.server."""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import threading
import xml.etree.ElementTree as ET
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ivr import fallback
from ivr.caller import Caller, Phone
from ivr.check import check_folder
from ivr.cli import main
from ivr.flow import Target
from tests.conftest import BILLING, FLOWS, SUPPORT, TOKEN, http_transport
from tests.servers import RedisServer
from tests.twiml_check import assert_valid_twiml

SCRANTON = "+15705550123"  # the shipped flows' domestic destination


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {".xml": "text/xml; charset=utf-8", ".json": "application/json"}

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def static_host(tmp_path):
    """A static file server on a free port, holding nothing but what is copied into it."""
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def redis():
    server = RedisServer()
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def test_calls_are_answered_from_the_static_files_with_app_and_redis_down(
    redis, static_host, tmp_path, capsys
):
    root, base = static_host
    assert main(["load", str(FLOWS), "--redis-url", redis.url]) == 0
    assert main(["fallback", "build", str(root / "onshore"), "--redis-url", redis.url]) == 0
    redis.kill()  # and no app was ever started: nothing but the static host answers

    index = json.loads((root / "onshore" / "index.json").read_text())
    assert index["numbers"] == {SUPPORT: "18005550100.xml", BILLING: "18885550199.xml"}
    phone = Phone(base, TOKEN, http_transport())
    answered = phone.call(Caller(SUPPORT), first=f"/onshore/{index['numbers'][SUPPORT]}", method="GET")
    busy = phone.call(
        Caller(BILLING, outcomes=["busy"]), first=f"/onshore/{index['numbers'][BILLING]}", method="GET"
    )

    assert answered.statuses[0] == busy.statuses[0] == 200
    assert answered.bridges == busy.bridges == [("number", SCRANTON)]
    first = answered.heard[0]
    assert "may be answered by our teams in India and the Philippines" in first
    assert "To speak with an agent in the United States, stay on the line" in first
    assert answered.heard[1].startswith("Nuestro sistema telefónico")  # the flow's other language
    assert len(answered.heard) == 2  # answered: the caller hung up after the conversation
    # Billing starts in Spanish; a busy domestic line goes on with the document (no action URL)
    assert busy.heard[0].startswith("Nuestro sistema") and "India" in busy.heard[0]
    assert busy.heard[-1] == (
        "Lo sentimos, ningún agente puede atender su llamada ahora. Por favor, llame más tarde."
    )
    assert "hangs up" in str(busy)


def test_documents_ask_nothing_of_the_app_and_never_bridge_offshore():
    config, _, errors = check_folder(FLOWS, "US")
    assert not errors
    built = fallback.render_all(config, "US")

    assert sorted(built.index) == sorted(config.numbers)
    for name, document in built.documents.items():
        root = assert_valid_twiml(document)
        assert [e.tag for e in root.iter() if e.tag in ("Gather", "Redirect")] == [], name
        assert not [a for e in root.iter() for a in e.attrib if a in ("action", "waitUrl")]
        assert "/voice" not in document
        targets = [(e.tag, e.text) for e in root.iter() if e.tag in ("Number", "Sip", "Enqueue")]
        assert targets == [("Number", SCRANTON)], name
        assert len(document.encode()) < 64_000


def test_an_emergency_number_is_bridged_at_once_and_a_foreign_business_hears_no_countries():
    config, _, _ = check_folder(FLOWS, "US")
    numbers = dict(config.numbers)
    numbers[SUPPORT] = dataclasses.replace(numbers[SUPPORT], exempt="emergency")
    numbers[BILLING] = dataclasses.replace(numbers[BILLING], exempt="foreign-business")
    built = fallback.render_all(dataclasses.replace(config, numbers=numbers), "US")

    emergency = ET.fromstring(built.documents["18005550100.xml"])
    assert [e.tag for e in emergency][:1] == ["Dial"]  # R6: nothing said before the bridge
    foreign = built.documents["18885550199.xml"]
    assert "India" not in foreign and "stay on the line" in foreign


def test_check_warns_until_the_fallback_matches_the_published_configuration(redis, tmp_path, capsys):
    assert main(["load", str(FLOWS), "--redis-url", redis.url]) == 0
    capsys.readouterr()

    assert main(["check", str(FLOWS), "--redis-url", redis.url]) == 0
    assert "warning: no fallback documents were ever built" in capsys.readouterr().err

    assert main(["fallback", "build", str(tmp_path / "out"), "--redis-url", redis.url]) == 0
    capsys.readouterr()
    assert main(["check", str(FLOWS), "--redis-url", redis.url]) == 0
    assert "warning" not in capsys.readouterr().err

    changed = tmp_path / "flows"
    shutil.copytree(FLOWS, changed)
    acme = changed / "acme.toml"
    acme.write_text(acme.read_text().replace('country = "IN"', 'country = "LK"'))
    assert main(["load", str(changed), "--redis-url", redis.url]) == 0
    assert "note: the published configuration changed since the fallback" in capsys.readouterr().err
    assert main(["check", str(changed), "--redis-url", redis.url]) == 0
    err = capsys.readouterr().err
    assert "warning: the published configuration changed since the fallback was built" in err

    assert main(["fallback", "build", str(tmp_path / "out"), "--redis-url", redis.url]) == 0
    assert "Sri Lanka" in (tmp_path / "out" / "18005550100.xml").read_text()


def test_build_from_local_files_needs_them_to_pass_check(tmp_path, capsys):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "empty.toml").write_text("")

    assert main(["fallback", "build", str(tmp_path / "out"), "--folder", str(tmp_path / "flows")]) == 1
    assert "no fallback built" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["fallback", "build", str(tmp_path / "out"), "--folder", str(FLOWS)]) == 0
    assert json.loads((tmp_path / "out" / "index.json").read_text())["source"] == f"files ({FLOWS})"
    assert Path(tmp_path / "out" / "18885550199.xml").exists()


def test_a_number_taken_out_loses_its_document(tmp_path):
    config, _, _ = check_folder(FLOWS, "US")
    fallback.write(fallback.render_all(config, "US"), tmp_path, "files")
    fewer = dataclasses.replace(config, numbers={SUPPORT: config.numbers[SUPPORT]})
    fallback.write(fallback.render_all(fewer, "US"), tmp_path, "files")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["18005550100.xml", "index.json"]


@pytest.mark.parametrize(
    ("target", "tag", "attribute"),
    [
        (("sip", "sip:agents@pbx.acme.example.com"), "Sip", None),
        (("queue", "acme-scranton"), "Enqueue", None),
        (("workflow", "WW" + "0" * 32), "Enqueue", "workflowSid"),
    ],
)
def test_every_kind_of_domestic_target_is_bridged_without_a_url(target, tag, attribute):
    config, _, _ = check_folder(FLOWS, "US")
    scranton = dataclasses.replace(config.centers["scranton"], target=Target(*target))
    config = dataclasses.replace(config, centers={**config.centers, "scranton": scranton})
    root = assert_valid_twiml(fallback.render_all(config, "US").documents["18005550100.xml"])

    bridge = next(e for e in root.iter() if e.tag == tag)
    assert (bridge.get(attribute) if attribute else (bridge.text or "").strip()) == target[1]
    assert not [a for e in root.iter() for a in e.attrib if a in ("action", "waitUrl", "url")]
    if attribute:  # TaskRouter gets the call's facts as the task's attributes
        task = json.loads(next(e for e in root.iter() if e.tag == "Task").text)
        assert task["domestic"] == "true" and task["center"] == "scranton"


def test_check_with_redis_unreachable_warns_in_one_line(tmp_path, capsys):
    down = RedisServer()  # never started: nothing listens on its port
    assert main(["check", str(FLOWS), "--redis-url", down.url]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: cannot read the published configuration") and err.count("\n") == 1
    shutil.rmtree(down.dir, ignore_errors=True)
