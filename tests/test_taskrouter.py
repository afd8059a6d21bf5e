"""End to end over real HTTP: TaskRouter's reservations and a shared queue's dequeue are
disclosed with the site of the agent actually reserved or dequeuing (issue 14).

Real gunicorn, a real redis-server, and ``tests/taskrouter_standin.py`` for TaskRouter:
Twilio's cloud cannot be reached from here, so that stand-in plays TaskRouter's side
(reservations, the signed assignment callback, its REST API with Basic auth and its
documented checks) and ``ivr.caller.Phone`` plays the caller's leg, signed as Twilio signs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from ivr.caller import ACCOUNT_SID, Caller, Phone
from tests.conftest import TOKEN, http_transport, serving, stream_entries
from tests.taskrouter_standin import TaskRouterCloud, Worker
from tests.twilio_cloud import CloudCall, TwilioCloud

FLOWS = Path(__file__).resolve().parent / "taskrouter_flows"
SUPPORT, POOLED = "+18005550100", "+18005550111"
MANILA = "Your call will be answered by our team in Manila, the Philippines."
BANGALORE = "Your call will be answered by our team in Bangalore, India."
AGENT_TOKEN = "agents-desk-token"
REPORT_TOKEN = "reports-token"
OFFER = "To speak with an agent in the United States, press 1 or say 'agent'."


class Cloud:
    """The gunicorn stack and a TaskRouter stand-in whose workers each test sets."""

    def __init__(self, base_url: str, cloud: TaskRouterCloud, redis) -> None:  # noqa: ANN001
        self.base_url, self.cloud, self.redis = base_url, cloud, redis

    def phone(self, *workers: Worker) -> Phone:
        self.cloud.workers = list(workers)
        self.cloud.problems.clear()
        return Phone(self.base_url, TOKEN, http_transport(), taskrouter=self.cloud)

    def volume(self) -> dict[str, object]:
        """The report's volume section over the days around now (calls may span midnight)."""
        today = datetime.now(UTC).date()
        period = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
        r = requests.get(
            f"{self.base_url}/reports",
            params={**period, "format": "json"},
            headers={"Authorization": f"Bearer {REPORT_TOKEN}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        volume: dict[str, object] = r.json()["volume"]
        return volume

    def events(self, call_sid: str) -> list[dict[str, str]]:
        return [e for _, e in stream_entries(self.redis.client()) if e.get("call") == call_sid]


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Cloud]:  # noqa: ANN001
    cloud = TaskRouterCloud(None, TOKEN, "", [])  # type: ignore[arg-type]
    cloud.voice = TwilioCloud(TOKEN, numbers=(SUPPORT, POOLED))
    with serving(
        FLOWS,
        tmp_path_factory.mktemp("spool"),
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_API_BASE_URL=cloud.url,
        IVR_AGENT_TOKEN=AGENT_TOKEN,
        IVR_REPORT_TOKEN=REPORT_TOKEN,
    ) as (server, gunicorn):
        cloud.phone = Phone(gunicorn.base_url, TOKEN, http_transport())
        cloud.callback_url = gunicorn.base_url + "/voice/assignment"
        yield Cloud(gunicorn.base_url, cloud, server)
    cloud.close()


def worker(name: str, site: str, answers: bool = True) -> Worker:
    return Worker(name, {"site": site, "contact_uri": "+1555" + secrets.choice("0123456789") * 7}, answers)


def steps(events: list[dict[str, str]], step: str) -> list[dict[str, str]]:
    return [e for e in events if e["step"] == step]


def task_of(stack: Cloud, call_sid: str):  # noqa: ANN201
    (task,) = [task for task in stack.cloud.tasks.values() if task.attributes["call_sid"] == call_sid]
    return task


def test_a_worker_who_does_not_answer_is_followed_by_the_next_one_each_disclosed_by_its_own_site(
    stack: Cloud,
) -> None:
    phone = stack.phone(worker("Maria", "manila", answers=False), worker("Arjun", "bangalore"))
    before = stack.volume()
    t = phone.call(Caller(SUPPORT))  # silent at the entry offer and at both reservations
    assert stack.cloud.problems == []
    assert t.heard.count(MANILA) == 1 and t.heard.count(BANGALORE) == 1
    assert t.heard.index(MANILA) < t.heard.index(BANGALORE)
    events = stack.events(t.call_sid)
    disclosed = [(e["center"], e.get("bind", "")) for e in steps(events, "disclosed")]
    assert disclosed[-2:] == [("manila", "reservation"), ("bangalore", "reservation")]
    assert [e["site"] for e in steps(events, "reserved")] == ["manila", "bangalore"]
    (accepted,) = steps(events, "agent_answered")
    assert (accepted["outcome"], accepted["site"]) == ("accepted", "bangalore")
    assert [r.status for r in task_of(stack, t.call_sid).reservations] == ["timeout", "accepted"]
    assert t.whispers == [
        "Onshore call. The caller speaks English. They were told where you are, "
        "offered an agent in the United States, and stayed."
    ]
    assert steps(events, "bridge_ended")[-1]["center"] == "bangalore"
    # the report counts the call where the worker who answered sits, and as told at the bridge
    after = stack.volume()
    by_country = [v["offshore_by_country"] for v in (before, after)]  # type: ignore[index]
    assert by_country[1].get("IN", 0) == by_country[0].get("IN", 0) + 1  # type: ignore[union-attr]
    assert by_country[1].get("PH", 0) == by_country[0].get("PH", 0)  # type: ignore[union-attr]
    assert after["disclosed_at_bind"] == before["disclosed_at_bind"] + 1  # type: ignore[operator]


@pytest.mark.parametrize("asks", ["1", "agent"])
def test_a_caller_who_asks_for_the_us_at_the_reservation_goes_home_and_the_worker_is_never_accepted(
    stack: Cloud, asks: str
) -> None:
    phone = stack.phone(worker("Maria", "manila"))
    caller = Caller(SUPPORT, press=",1") if asks == "1" else Caller(SUPPORT, press=",", say="agent")
    t = phone.call(caller)
    assert stack.cloud.problems == []
    assert MANILA in t.heard
    assert t.bridges[-1] == ("number", "+15705550123")
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled" and task.reason == "the caller asked for the domestic line"
    assert [r.status for r in task.reservations] == ["canceled"]
    events = stack.events(t.call_sid)
    assert steps(events, "transfer_requested")[-1]["by"] == ("key" if asks == "1" else "voice")
    assert not steps(events, "agent_answered")


def test_the_transfer_key_stays_live_while_the_worker_is_called(stack: Cloud) -> None:
    phone = stack.phone(worker("Maria", "manila", answers=False))
    t = phone.call(Caller(SUPPORT, press=",,1"))  # silent at both offers, then 1 while waiting
    assert stack.cloud.problems == []
    assert "To speak with an agent in the United States, press 1 at any time." in t.heard
    assert t.bridges[-1] == ("number", "+15705550123")
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled" and "accepted" not in [r.status for r in task.reservations]
    assert steps(stack.events(t.call_sid), "transfer_requested")[-1]["by"] == "hold"


def test_a_caller_who_hangs_up_while_the_worker_rings_cancels_the_task_and_nobody_accepts_it(
    stack: Cloud,
) -> None:
    late = worker("Arjun", "bangalore")
    late.late = True
    phone = stack.phone(late)
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled" and [r.status for r in task.reservations] == ["canceled"]
    (answered,) = steps(stack.events(t.call_sid), "agent_answered")
    assert answered["outcome"].startswith("caller not moved")
    assert not steps(stack.events(t.call_sid), "joined")


def test_a_worker_at_home_is_joined_without_a_disclosure(stack: Cloud) -> None:
    phone = stack.phone(worker("Pam", "scranton"))
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    assert MANILA not in t.heard and BANGALORE not in t.heard
    events = stack.events(t.call_sid)
    assert steps(events, "exempt")[-1]["reason"] == "domestic-center"
    assert [r.status for r in task_of(stack, t.call_sid).reservations] == ["accepted"]


@pytest.mark.parametrize("site", ["lagos", "", "pool"])
def test_a_worker_whose_site_onshore_cannot_place_is_refused_and_the_caller_goes_home(
    stack: Cloud, site: str
) -> None:
    phone = stack.phone(worker("Who", site))
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    assert t.bridges[-1] == ("number", "+15705550123")
    (refused,) = steps(stack.events(t.call_sid), "reservation_refused")
    assert refused["site"] == (site or "unknown")
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled" and [r.status for r in task.reservations] == ["canceled"]


def test_an_assignment_callback_not_signed_by_twilio_is_refused(stack: Cloud) -> None:
    r = requests.post(stack.base_url + "/voice/assignment", data={"AccountSid": ACCOUNT_SID}, timeout=5)
    assert r.status_code == 403


def test_the_worker_whisper_is_off_unless_a_flow_asks_for_it() -> None:
    from ivr.check import check_folder

    config, _, errors = check_folder(Path(__file__).resolve().parent.parent / "flows", "US")
    assert not errors and config.flows and not any(flow.agent_whisper for flow in config.flows.values())
    config, _, errors = check_folder(FLOWS, "US")
    assert not errors and config.flows["support"].agent_whisper and not config.flows["pooled"].agent_whisper


def test_a_shared_queue_dequeued_by_a_bangalore_agent_names_bangalore_just_before_the_bridge(
    stack: Cloud,
) -> None:
    phone = stack.phone()
    t = phone.call(Caller(POOLED, wait=5))
    entry = [line for line in t.heard if "one of our teams" in line]
    assert entry and "Manila, the Philippines" in entry[0] and "Bangalore, India" in entry[0]
    status, _, body = phone.post(
        "/voice/dequeue?site=bangalore",
        {
            "CallSid": t.call_sid,
            "From": t.caller,
            "To": POOLED,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            "QueueSid": "QU" + "0" * 32,
            "QueueTime": "5",
            "DequeingCallSid": "CA" + "9" * 32,
        },
    )
    assert status == 200 and BANGALORE in body and "<Gather" not in body
    dequeued = steps(stack.events(t.call_sid), "dequeued")
    assert [(e["site"], e["country"]) for e in dequeued] == [("bangalore", "IN")]


def live(stack: Cloud, t) -> CloudCall:  # noqa: ANN001
    """The caller's call as Twilio's Voice API knows it: in progress."""
    call = CloudCall(t.call_sid, SUPPORT, t.caller, "", "", "", ("completed",), 60, status="in-progress")
    assert stack.cloud.voice is not None
    stack.cloud.voice.calls[t.call_sid] = call
    return call


def send_home(stack: Cloud, call_sid: str, token: str = AGENT_TOKEN) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/calls/{call_sid}/domestic",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_an_agent_sends_the_caller_home_mid_call(stack: Cloud) -> None:
    phone = stack.phone(worker("Arjun", "bangalore"))
    t = phone.call(Caller(SUPPORT))
    assert BANGALORE in t.heard
    call = live(stack, t)
    r = send_home(stack, t.call_sid)
    assert r.status_code == 202, r.text
    (update,) = call.updates
    assert update["Method"] == "POST" and "/voice/home?" in update["Url"]
    home = phone.answer(
        update["Url"],
        {
            "CallSid": t.call_sid,
            "From": t.caller,
            "To": SUPPORT,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        },
        Caller(SUPPORT),
    )
    assert "Please hold while we transfer you to an agent in the United States." in home.heard
    assert home.bridges[-1] == ("number", "+15705550123")
    requested = steps(stack.events(t.call_sid), "transfer_requested")
    assert [(e["by"], e["how"]) for e in requested] == [("agent", "agent")]


@pytest.mark.parametrize("token", ["", "wrong"])
def test_sending_home_needs_the_agents_token_and_is_never_a_twilio_webhook(stack: Cloud, token: str) -> None:
    phone = stack.phone(worker("Arjun", "bangalore"))
    t = phone.call(Caller(SUPPORT))
    call = live(stack, t)
    r = send_home(stack, t.call_sid, token)
    assert r.status_code == 401 and call.updates == []
    signed = phone.post(f"/calls/{t.call_sid}/domestic", {"CallSid": t.call_sid})
    assert signed[0] == 401 and call.updates == []


def test_sending_home_a_call_the_record_does_not_know_is_404(stack: Cloud) -> None:
    assert send_home(stack, "CA" + "7" * 32).status_code == 404


def test_preview_plays_reservations_in_turn_and_a_request_for_home(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ivr.cli import main

    args = ["preview", SUPPORT, "--folder", str(FLOWS), "--at", "2026-11-30T10:00"]
    assert main([*args, "--reserve", "manila,bangalore"]) == 0
    out = capsys.readouterr().out
    assert out.index(MANILA) < out.index("the worker at manila does not answer") < out.index(BANGALORE)
    assert "the worker at bangalore answers" in out
    assert main([*args, "--reserve", "manila", "--press", ",1"]) == 0
    out = capsys.readouterr().out
    assert "the task is canceled (the caller asked for the domestic line)" in out
    assert "bridged to scranton" in out
    assert main([*args, "--reserve", "lagos"]) == 0
    out = capsys.readouterr().out
    assert "reservation_refused reason=unknown worker site" in out and "bridged to scranton" in out


def rest_to(stack: Cloud, task_sid: str, **form: str) -> list[dict[str, str]]:
    """The REST requests Onshore sent on this Task (or its reservations) with these fields."""
    return [
        f
        for path, f in stack.cloud.rest
        if f"/Tasks/{task_sid}" in path and all(f.get(k) == v for k, v in form.items())
    ]


def test_a_caller_who_hangs_up_while_waiting_for_the_reserved_worker_gets_the_task_canceled(
    stack: Cloud,
) -> None:
    """Out of the <Enqueue>, TaskRouter cannot see the caller hang up: the status callback
    cancels the Task Onshore still holds, once, and the record says so."""
    phone = stack.phone(worker("Maria", "manila", answers=False))
    t = phone.call(Caller(SUPPORT))  # waits, the worker never answers; hangs up on hold
    assert stack.cloud.problems == []
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled" and [r.status for r in task.reservations] == ["timeout"]
    (cancel,) = rest_to(stack, task.sid, AssignmentStatus="canceled")
    assert "ended (completed) while waiting" in cancel["Reason"]
    (recorded,) = steps(stack.events(t.call_sid), "task_cancel")
    assert (recorded["outcome"], recorded["task"]) == ("canceled", task.sid)
    # Twilio retrying the status callback: nothing is left to cancel
    again = phone.post(
        "/voice/status",
        {"CallSid": t.call_sid, "From": t.caller, "To": SUPPORT, "CallStatus": "completed"},
    )
    assert again[0] == 200
    assert len(rest_to(stack, task.sid, AssignmentStatus="canceled")) == 1


def test_a_caller_joined_to_the_worker_leaves_no_task_for_the_status_callback_to_cancel(
    stack: Cloud,
) -> None:
    phone = stack.phone(worker("Arjun", "bangalore"))
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    task = task_of(stack, t.call_sid)
    assert [r.status for r in task.reservations] == ["accepted"]
    assert rest_to(stack, task.sid, AssignmentStatus="canceled") == []
    assert steps(stack.events(t.call_sid), "task_cancel") == []


def test_a_replayed_consent_gets_the_same_twiml_and_the_worker_is_called_once(stack: Cloud) -> None:
    """The consent webhook replayed word for word (Twilio's retry, or a request replayed
    within its signature's validity) must not make TaskRouter call the worker again."""
    sent: list[tuple[str, dict[str, str], dict[str, str], str]] = []
    transport = http_transport()

    def recording(url, params, headers, method="POST"):  # noqa: ANN001, ANN202
        answer = transport(url, params, headers, method)
        sent.append((url, params, headers, answer[2]))
        return answer

    stack.cloud.workers = [worker("Arjun", "bangalore")]
    stack.cloud.problems.clear()
    phone = Phone(stack.base_url, TOKEN, recording, taskrouter=stack.cloud)
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    task = task_of(stack, t.call_sid)
    (consent,) = [s for s in sent if "/voice/reserved" in s[0] and "p=a" in s[0] and "p=h" in s[3]]
    assert len(rest_to(stack, task.sid, Instruction="call")) == 1
    url, params, headers, body = consent
    assert transport(url, params, headers)[2] == body  # the same document
    assert transport(url, params, headers)[2] == body
    assert len(rest_to(stack, task.sid, Instruction="call")) == 1  # and no second call
    assert [r.status for r in task.reservations] == ["accepted"]


def test_a_caller_past_max_wait_at_a_reservation_goes_home_and_the_task_is_canceled(stack: Cloud) -> None:
    """The workflow center's max_wait (600 s) bounds the wait for an agent after the call
    left the <Enqueue> too: counted from the Task's creation (TaskAge, here 600 s when Maria
    is reserved: she is still disclosed and called), so once Maria has rung a whole hold
    document unanswered and nobody else is reserved, the caller goes to the domestic line
    and the Task is canceled."""
    phone = stack.phone(worker("Maria", "manila", answers=False))
    stack.cloud.task_age = 600
    try:
        t = phone.call(Caller(SUPPORT))
    finally:
        stack.cloud.task_age = 3
    assert stack.cloud.problems == []
    assert t.heard.count(MANILA) == 1
    assert t.bridges[-1] == ("number", "+15705550123")
    task = task_of(stack, t.call_sid)
    assert task.status == "canceled"
    (cancel,) = rest_to(stack, task.sid, AssignmentStatus="canceled")
    assert "past max_wait 600 s" in cancel["Reason"]
    events = stack.events(t.call_sid)
    (limit,) = [e for e in steps(events, "wait_limit") if e.get("bind") == "reservation"]
    assert limit["max_wait"] == "600" and int(limit["queue_time"]) >= 600
    assert not steps(events, "joined")


def test_a_caller_within_max_wait_keeps_waiting_for_the_next_reservation(stack: Cloud) -> None:
    phone = stack.phone(worker("Maria", "manila", answers=False), worker("Arjun", "bangalore"))
    t = phone.call(Caller(SUPPORT))  # TaskAge 3 s: far inside 600
    assert stack.cloud.problems == []
    assert BANGALORE in t.heard
    assert not steps(stack.events(t.call_sid), "wait_limit")
    assert [r.status for r in task_of(stack, t.call_sid).reservations] == ["timeout", "accepted"]


def test_a_replayed_worker_answer_leaves_the_caller_in_the_conference(stack: Cloud) -> None:
    """The worker's /voice/agent replayed after the reservation was accepted: the same
    conference for the worker, no second move of the caller and no second accept (which
    TaskRouter would refuse, and the caller be taken back out to wait)."""
    phone = stack.phone(worker("Arjun", "bangalore"))
    t = phone.call(Caller(SUPPORT))
    assert stack.cloud.problems == []
    task = task_of(stack, t.call_sid)
    (reservation,) = task.reservations
    assert reservation.status == "accepted" and reservation.call is not None
    assert stack.cloud.voice is not None
    moves = len(stack.cloud.voice.calls[t.call_sid].updates)
    leg = {
        "CallSid": "CA" + secrets.token_hex(16),
        "From": reservation.call["CallFrom"],
        "To": reservation.worker.attributes["contact_uri"],
        "Direction": "outbound-api",
        "CallStatus": "in-progress",
        "ApiVersion": "2010-04-01",
    }
    status, _, body = phone.post(reservation.call["CallUrl"], leg)
    assert status == 200 and "<Conference" in body and reservation.sid in body and "<Hangup" not in body
    assert len(stack.cloud.voice.calls[t.call_sid].updates) == moves
    assert len(rest_to(stack, task.sid, ReservationStatus="accepted")) == 1
    (answered,) = steps(stack.events(t.call_sid), "agent_answered")
    assert answered["outcome"] == "accepted"
