"""A local stand-in for Twilio TaskRouter's side of a workflow, for the tests.

It exists only because Twilio's cloud cannot be reached from the machines the tests run on.
It plays what TaskRouter documents, and checks what Onshore sends against it:

- A call that reaches ``<Enqueue workflowSid>`` becomes a Task whose attributes are the
  ``<Task>`` JSON with the call's standard parameters added (``call_sid``, ``account_sid``,
  ``from``, ``to``: https://www.twilio.com/docs/taskrouter/twiml-queue-calls).
- Workers are reserved in the configured order, one at a time. Each reservation POSTs the
  workflow's Assignment Callback URL with Timestamp, AccountSid, WorkspaceSid, WorkflowSid,
  TaskQueueSid, WorkerSid, WorkerAttributes, TaskSid, TaskAttributes, TaskAge, TaskPriority
  and ReservationSid (https://www.twilio.com/docs/taskrouter/handle-assignment-callbacks),
  signed with the account's auth token as Twilio signs its webhooks.
- The answer must be a 200 with ``Content-Type: application/json`` (else TaskRouter does
  not process it) and a JSON object with a documented ``instruction``; an empty 200 leaves
  the reservation pending (the "manual" model). ``redirect`` needs ``call_sid`` (the Task's
  call, 34 characters starting CA) and an absolute http(s) ``url`` (errors 40121, 40120);
  ``accept`` is a boolean, default false; the reservation must still be pending (40123).
- Its REST API (``/v1/Workspaces/{WS}/Tasks/{WT}/Reservations/{WR}`` and ``.../Tasks/{WT}``)
  takes HTTP Basic with the account SID and auth token (401 otherwise): a Reservation
  update with ``ReservationStatus`` (accepted, rejected) or ``Instruction=call`` (``CallFrom``
  and an absolute ``CallUrl`` required; ``CallAccept`` true or false), only while the
  reservation is pending (40114 otherwise); a Task update with ``AssignmentStatus=canceled``
  (which cancels a pending reservation) and a ``Reason``.
- After ``Instruction=call`` the worker's phone rings (between two of the caller's
  documents): a worker who answers gets the ``CallUrl`` requested on their leg (signed) and
  must be sent into the conference named after the reservation, which Onshore must have
  accepted by then, and the caller's call must have been moved (the Voice API's call
  update) to join it; a worker who does not answer lets the reservation time out, and the
  next worker is reserved.

It is a real HTTP server on a free port; Onshore's twilio SDK client is pointed at it
(``TWILIO_API_BASE_URL``), and requests for Twilio's Voice API go on to
``tests/twilio_cloud.py`` (``voice``), the REST stand-in for calls.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from ivr.caller import ACCOUNT_SID, Phone, Transcript
from tests.twilio_cloud import CloudCall, RestError, TwilioCloud, absolute, send_json

INSTRUCTIONS = ("accept", "reject", "dequeue", "call", "redirect", "conference")
REDIRECT_FIELDS = {"instruction", "call_sid", "url", "accept"}


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Worker:
    """A TaskRouter worker: its attributes (``site``, ``contact_uri``) and whether it
    answers the call TaskRouter places to it."""

    name: str
    attributes: dict[str, str]
    answers: bool = True
    sid: str = field(default_factory=lambda: sid("WK"))
    late: bool = False  # answers only after the caller hung up


@dataclass
class Reservation:
    sid: str
    worker: Worker
    status: str = "pending"
    call: dict[str, str] | None = None  # the call instruction's parameters, once given
    played: bool = False  # the worker's phone rang
    joined: bool = False  # the worker's leg entered the conference


@dataclass
class Task:
    sid: str
    attributes: dict[str, object]
    status: str = "pending"
    reason: str = ""
    reservations: list[Reservation] = field(default_factory=list)


class TaskRouterCloud:
    """TaskRouter's side: tasks, reservations, the assignment callbacks and the REST API."""

    def __init__(self, phone: Phone, token: str, callback_url: str, workers: list[Worker]) -> None:
        self.phone = phone  # signs as Twilio signs, with the account's auth token
        self.token = token
        self.callback_url = callback_url
        self.workers = workers
        self.workspace = sid("WS")
        self.workflow = ""
        self.tasks: dict[str, Task] = {}
        self.problems: list[str] = []  # what Onshore sent that TaskRouter would refuse
        self.instructions: list[dict[str, object]] = []
        self.task_age = 3  # seconds the Task has waited when a worker is reserved (TaskAge)
        self.rest: list[tuple[str, dict[str, str]]] = []  # (path, form) of each REST request
        self.lock = threading.Lock()
        self.voice: TwilioCloud | None = None  # Twilio's Voice API, on the same base URL
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the phone's hooks: what TaskRouter does to the caller's call ------------------

    def enqueued(self, verb: ET.Element, t: Transcript, base: dict[str, str]) -> str | None:
        """A call reached <Enqueue workflowSid>: the Task, the first reservation; the URL the
        call is redirected to (None: it stays on hold)."""
        self.workflow = verb.get("workflowSid", "")
        task_json = next((inner.text or "" for inner in verb if inner.tag == "Task"), "") or "{}"
        attributes: dict[str, object] = json.loads(task_json)
        attributes.update(
            call_sid=t.call_sid, account_sid=ACCOUNT_SID, to=base.get("To", ""), **{"from": t.caller}
        )
        task = Task(sid("WT"), attributes)
        with self.lock:
            self.tasks[task.sid] = task
        if self.voice is not None:  # the caller's call, live: Onshore may move it (REST)
            self.voice.calls[t.call_sid] = CloudCall(
                t.call_sid, base.get("To", ""), t.caller, "", "", "", ("completed",), 60, status="in-progress"
            )
        t.note(f"  TaskRouter: task {task.sid} created")
        return self._reserve_next(task, t)

    def between(self, t: Transcript) -> str | None:
        """Between two of the caller's documents: a worker TaskRouter was told to call
        answers (their leg requests CallUrl; Onshore must accept the reservation and move
        the caller's call through the REST API) or does not (the reservation times out and
        the next worker is reserved). The URL the caller's call was moved to, or None."""
        task = next((k for k in self.tasks.values() if k.attributes.get("call_sid") == t.call_sid), None)
        if task is None or not task.reservations:
            return None
        reservation = task.reservations[-1]
        if reservation.call is None or reservation.played or reservation.status != "pending":
            return None
        reservation.played = True
        worker = reservation.worker
        if not worker.answers:
            t.note(f"  TaskRouter: {worker.name} does not answer; reservation {reservation.sid} times out")
            with self.lock:
                reservation.status = "timeout"
            return self._reserve_next(task, t)
        voice = self.voice.calls.get(t.call_sid) if self.voice is not None else None
        seen = len(voice.updates) if voice is not None else 0
        if worker.late and voice is not None:
            t.note("  the caller hangs up while the worker's phone rings")
            voice.status = "completed"
        if not self._worker_leg(task, reservation, t):
            return "" if worker.late else None
        if voice is None or len(voice.updates) == seen or not voice.updates[-1].get("Url"):
            self.problems.append("the worker joined but the caller's call was never moved to them")
            return None
        return voice.updates[-1]["Url"]

    def conference(self, name: str, t: Transcript) -> tuple[str, str]:
        """The caller's leg is in the conference ``name``: ("answered", "") when the worker
        is in it, ("hangup", "") when nobody is."""
        task, reservation = self._find(name)
        if task is None or reservation is None or not reservation.joined:
            self.problems.append(f"the caller joined conference {name} with no worker in it")
            return "hangup", ""
        return "answered", ""

    # --- reservations --------------------------------------------------------------

    def _reserve_next(self, task: Task, t: Transcript) -> str | None:
        tried = {r.worker.sid for r in task.reservations}
        worker = next((w for w in self.workers if w.sid not in tried), None)
        if worker is None or task.status == "canceled":
            t.note("  TaskRouter: no worker left to reserve")
            return None
        reservation = Reservation(sid("WR"), worker)
        with self.lock:
            task.reservations.append(reservation)
            task.status = "reserved"
        t.note(f"  TaskRouter: reserves {worker.name} ({reservation.sid})")
        form = {
            "Timestamp": "1765166400",
            "WorkspaceSid": self.workspace,
            "WorkflowSid": self.workflow,
            "TaskQueueSid": "WQ" + "0" * 32,
            "WorkerSid": worker.sid,
            "WorkerAttributes": json.dumps(worker.attributes),
            "TaskSid": task.sid,
            "TaskAttributes": json.dumps(task.attributes),
            "TaskAge": str(self.task_age),
            "TaskPriority": "0",
            "ReservationSid": reservation.sid,
        }
        status, content_type, body = self.phone.post(self.callback_url, form)
        if status != 200:
            self.problems.append(f"assignment callback answered HTTP {status}")
            return None
        if not body.strip():
            return None  # the "manual" model: the reservation stays pending
        if not content_type.startswith("application/json"):
            self.problems.append(f"assignment callback answered {content_type}, not application/json")
            return None
        try:
            instruction = json.loads(body)
        except ValueError:
            self.problems.append(f"assignment callback answered JSON TaskRouter cannot read: {body[:80]}")
            return None
        self.instructions.append(instruction)
        return self._follow(task, reservation, instruction, t)

    def _follow(self, task: Task, reservation: Reservation, instruction: object, t: Transcript) -> str | None:
        if not isinstance(instruction, dict) or instruction.get("instruction") not in INSTRUCTIONS:
            self.problems.append(f"not an assignment instruction: {instruction!r}")  # warning 40005
            return None
        if instruction["instruction"] != "redirect":
            self.problems.append(f"the stand-in plays only redirect, not {instruction['instruction']}")
            return None
        unknown = set(instruction) - REDIRECT_FIELDS
        call_sid, url, accept = (
            instruction.get("call_sid"),
            instruction.get("url"),
            instruction.get("accept", False),
        )
        if unknown:
            self.problems.append(f"redirect with fields TaskRouter does not document: {sorted(unknown)}")
        if not isinstance(call_sid, str) or len(call_sid) != 34 or not call_sid.startswith("CA"):
            self.problems.append(f"redirect without a valid call_sid (40121): {call_sid!r}")
            return None
        if call_sid != task.attributes.get("call_sid"):
            self.problems.append("redirect of a call that is not the task's (40122)")
            return None
        if not absolute(url):
            self.problems.append(f"redirect without an absolute http(s) url (40120): {url!r}")
            return None
        if not isinstance(accept, bool):
            self.problems.append(f"redirect accept must be a boolean: {accept!r}")
            return None
        if reservation.status != "pending":
            self.problems.append(f"redirect of reservation {reservation.status}, not pending (40123)")
            return None
        if accept:
            reservation.status = "accepted"
        t.note(f"  TaskRouter: redirects the call to {url}")
        assert isinstance(url, str)
        return url

    def _worker_leg(self, task: Task, reservation: Reservation, t: Transcript) -> bool:
        """The worker answers the call TaskRouter placed: their leg requests CallUrl and must
        end in the conference named after the reservation, accepted by then."""
        call = reservation.call or {}
        worker = reservation.worker
        params = {
            "CallSid": sid("CA"),
            "From": call.get("CallFrom", ""),
            "To": worker.attributes.get("contact_uri", ""),
            "Direction": "outbound-api",
            "CallStatus": "in-progress",
            "ApiVersion": "2010-04-01",
        }
        status, _, body = self.phone.post(call.get("CallUrl", ""), params)
        if status != 200:
            self.problems.append(f"the worker's CallUrl answered HTTP {status}")
            return False
        for verb in ET.fromstring(body):
            if verb.tag == "Say":
                t.whispers.append(verb.text or "")
                t.note(f"  {worker.name} hears: {verb.text}")
            elif verb.tag == "Hangup":
                t.note(f"  {worker.name}'s leg hangs up")
                return False
            elif verb.tag == "Dial":
                rooms = [inner for inner in verb if inner.tag == "Conference"]
                name = (rooms[0].text or "").strip() if rooms else ""
                if name != reservation.sid:
                    self.problems.append(f"the worker was sent to {name!r}, not conference {reservation.sid}")
                    return False
                if reservation.status != "accepted":
                    self.problems.append(f"worker joined while the reservation is {reservation.status}")
                    return False
                t.note(f"  {worker.name} joins conference {name}")
                reservation.joined = True
                return True
        return False

    def _find(self, reservation_sid: str) -> tuple[Task | None, Reservation | None]:
        with self.lock:
            for task in self.tasks.values():
                for reservation in task.reservations:
                    if reservation.sid == reservation_sid:
                        return task, reservation
        return None, None

    # --- the REST API ----------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                if self.path.startswith("/2010-04-01/") and cloud.voice is not None:
                    # Twilio's Voice API on the same base URL: tests/twilio_cloud.py plays it
                    try:
                        status, payload = cloud.voice.handle("POST", self.path, dict(self.headers), raw)
                    except RestError as err:
                        status, payload = err.status, err.body()
                else:
                    status, payload = cloud._rest(self.path, form, self.headers.get("Authorization", ""))
                send_json(self, status, payload)

        return Handler

    def _rest(self, path: str, form: dict[str, str], authorization: str) -> tuple[int, dict[str, object]]:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{self.token}".encode()).decode()
        if authorization != expected:
            return 401, _error(20003, "Authenticate", 401)
        parts = path.split("?")[0].strip("/").split("/")
        with self.lock:
            self.rest.append((path, form))
        if (
            len(parts) == 7
            and parts[:2] == ["v1", "Workspaces"]
            and parts[3] == "Tasks"
            and parts[5] == "Reservations"
        ):
            return self._reservation_update(parts[2], parts[4], parts[6], form)
        if len(parts) == 5 and parts[:2] == ["v1", "Workspaces"] and parts[3] == "Tasks":
            return self._task_update(parts[2], parts[4], form)
        return 404, _error(20404, "The requested resource was not found", 404)

    def _reservation_update(
        self, ws: str, wt: str, wr: str, form: dict[str, str]
    ) -> tuple[int, dict[str, object]]:
        task, reservation = self._find(wr)
        if ws != self.workspace or task is None or reservation is None or task.sid != wt:
            return 404, _error(20404, "The requested resource was not found", 404)
        with self.lock:
            if reservation.status != "pending":
                return 400, _error(40114, f"Reservation is {reservation.status}, not pending", 400)
            if "ReservationStatus" in form:
                if form["ReservationStatus"] not in ("accepted", "rejected"):
                    return 400, _error(20001, "ReservationStatus must be accepted or rejected", 400)
                reservation.status = form["ReservationStatus"]
                if reservation.status == "accepted":
                    task.status = "assigned"
            elif form.get("Instruction") == "call":
                if not form.get("CallFrom") or not absolute(form.get("CallUrl")):
                    return 400, _error(20001, "call needs CallFrom and an absolute CallUrl", 400)
                if form.get("CallAccept", "false") not in ("true", "false"):
                    return 400, _error(20001, "CallAccept must be true or false", 400)
                reservation.call = dict(form)
                if form.get("CallAccept") == "true":
                    reservation.status = "accepted"
            else:
                return 400, _error(20001, f"the stand-in does not play {form.get('Instruction')!r}", 400)
            return 200, {
                "sid": reservation.sid,
                "account_sid": ACCOUNT_SID,
                "workspace_sid": ws,
                "task_sid": wt,
                "worker_sid": reservation.worker.sid,
                "worker_name": reservation.worker.name,
                "reservation_status": reservation.status,
            }

    def _task_update(self, ws: str, wt: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self.lock:
            task = self.tasks.get(wt)
            if ws != self.workspace or task is None:
                return 404, _error(20404, "The requested resource was not found", 404)
            status = form.get("AssignmentStatus", "")
            if status not in ("canceled", "completed", "wrapping"):
                return 400, _error(20001, "AssignmentStatus must be canceled, completed or wrapping", 400)
            if status == "canceled":
                if task.status in ("assigned", "completed", "canceled"):
                    return 400, _error(20001, f"a task {task.status} cannot be canceled", 400)
                for reservation in task.reservations:
                    if reservation.status == "pending":
                        reservation.status = "canceled"
            task.status, task.reason = status, form.get("Reason", "")
            return 200, {
                "sid": wt,
                "account_sid": ACCOUNT_SID,
                "workspace_sid": ws,
                "assignment_status": status,
            }


def _error(code: int, message: str, status: int) -> dict[str, object]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
