"""Work a worker does in the background after it answered: replaying the spool. Never on a
caller's time: a chore runs in its own thread, at most once per interval, and one run at a
time. (Anchoring the record is not a worker's chore: it needs the auditor's credentials,
which the webhooks never hold; see ``ivr.anchors``.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Chore:
    """Runs ``work`` in a thread when poked, if the interval has passed and ``due()`` says so."""

    def __init__(self, name: str, every: float, work: Callable[[], object],
                 due: Callable[[], bool] = lambda: True, wait_first: bool = False) -> None:
        self.name, self.every, self.work, self.due = name, every, work, due
        self._last = time.monotonic() if wait_first else 0.0
        self._thread: threading.Thread | None = None

    def poke(self) -> None:
        """Called after a successful write; cheap when nothing is to be done."""
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        if self._thread is not None and self._thread.is_alive():
            return
        if self.due():
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self.work()
        except Exception as exc:  # noqa: BLE001 - Redis went away again; the next poke retries
            log.warning("%s stopped: %s", self.name, exc)
