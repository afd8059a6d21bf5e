"""What Onshore asks of TaskRouter's REST API at a reservation, through the twilio SDK.

Three requests, each on the Task or the Reservation the assignment callback named
(https://www.twilio.com/docs/taskrouter/api/reservations, .../api/task):

- ``dial_worker``: the Reservation's ``call`` instruction (``Instruction=call``, ``CallFrom``
  the number the caller called, ``CallUrl`` Onshore's ``/voice/agent``, ``CallAccept`` false):
  TaskRouter calls the worker's ``contact_uri``; the reservation stays pending;
- ``accept``: ``ReservationStatus=accepted``, when the worker's leg answered;
- ``cancel``: ``AssignmentStatus=canceled`` on the Task, with a ``Reason``, when the caller
  goes to the domestic line: a pending reservation is then never accepted.

They run inside a webhook, so each has a short timeout (``IVR_TASKROUTER_TIMEOUT``, 3 s by
default, within Twilio's 15 s), and any failure raises ``TaskRouterUnavailable``: the
caller's leg then goes to the domestic line rather than wait for a worker nobody called.
The client is ``ivr.twilio_rest``'s (credentials, test base URL).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ivr.bind import Reservation
from ivr.errors import OnshoreError

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 3.0


class TaskRouterUnavailable(OnshoreError):
    """A TaskRouter request failed or was refused; the message says how (never a secret)."""


class TaskRouterApi:
    """The three TaskRouter requests, on a ``twilio.rest.Client``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _reservation(self, r: Reservation) -> Any:
        return self.client.taskrouter.v1.workspaces(r.workspace).tasks(r.task).reservations(r.reservation)

    def dial_worker(self, r: Reservation, url: str) -> None:
        """Ask TaskRouter to call the reserved worker; their leg requests ``url``."""
        self._do(
            "call instruction",
            lambda: self._reservation(r).update(
                instruction="call", call_from=r.number, call_url=url, call_accept=False
            ),
        )

    def accept(self, r: Reservation) -> None:
        """Accept the reservation: the worker's leg answered."""
        self._do("accept", lambda: self._reservation(r).update(reservation_status="accepted"))

    def bring(self, call_sid: str, url: str) -> None:
        """Move the caller's live call to ``url`` (the Call resource's update,
        https://www.twilio.com/docs/voice/api/call-resource#update-a-call-resource)."""
        self._do("caller's call update", lambda: self.client.calls(call_sid).update(url=url, method="POST"))

    def cancel(self, r: Reservation, reason: str) -> None:
        """Cancel the Task (and with it the pending reservation)."""
        task = self.client.taskrouter.v1.workspaces(r.workspace).tasks(r.task)
        self._do("cancel", lambda: task.update(assignment_status="canceled", reason=reason[:200]))

    @staticmethod
    def _do(what: str, request: Any) -> None:
        from ivr.twilio_rest import reason

        try:
            request()
        except Exception as exc:  # noqa: BLE001 - whatever failed, the caller is kept safe
            raise TaskRouterUnavailable(f"taskrouter {what}: {reason(exc)}") from exc


def from_env(env: Mapping[str, str]) -> TaskRouterApi | None:
    """The API with the account's REST credentials, or None without them (the routes then
    send reserved callers to the domestic line, and say why in the record)."""
    if not env.get("TWILIO_ACCOUNT_SID"):
        return None
    from ivr import twilio_rest

    settings = twilio_rest.rest_settings(env)
    timeout = float(env.get("IVR_TASKROUTER_TIMEOUT", DEFAULT_TIMEOUT))
    return TaskRouterApi(twilio_rest.client(replace(settings, timeout=timeout)))
