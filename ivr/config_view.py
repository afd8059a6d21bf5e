"""What a worker knows of the published configuration: only what its webhooks rested on.

A webhook's decision rests on a scope: a call's first webhook on the number called, its
flow's live version and the centers that flow can reach (``Flow.reach``); a later step on
the centers its own flow version can reach. The commit script (``ivr.store``) reads just
those objects, hashes them into the scope's digest and, when the worker's digest differs,
writes nothing and returns them. This module turns that reply into a ``View``: it parses
only what it has not parsed before (caches keyed by the raw JSON), so a worker's first
webhook of a number costs the same at 10 numbers as at 100,000, and a publish costs it
only the objects that changed, when a webhook next needs them. It never talks to Redis.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ivr.center_tables import parse_center
from ivr.flow import Center, Config, Number
from ivr.flow_tables import parse_number
from ivr.table_fields import Problems

log = logging.getLogger(__name__)

CACHED = 200_000  # parsed objects and views kept; past it the cache starts over


class Scope(NamedTuple):
    """What a decision rests on: the number called, or the flow version a step runs."""

    number: str = ""
    flow: str = ""
    version: int = 0


@dataclass(frozen=True)
class View:
    """The objects of one scope as Redis held them at one moment; the digest names them."""

    digest: str
    number: Number | None  # the number called; None for later steps or an unknown number
    versions: Mapping[str, int]
    centers: Mapping[str, Center]


EMPTY = View("", None, {}, {})


@dataclass
class Memory:
    """Everything read successfully so far; used only when Redis cannot answer.

    Its flows' versions and centers are this process's own dicts, updated in place: a
    refused commit merges only the objects it named, so learning costs what changed, not
    the whole configuration the fallback reading holds (1,000 centers copied on every
    first webhook after a publish was 10 % of that webhook's instructions). Each change is
    one dict operation, atomic under the GIL, so the chores thread's reading and the
    webhooks' lookups never see a dict half changed; nothing iterates them in Python."""

    versions: dict[str, int] = field(default_factory=dict)
    centers: dict[str, Center] = field(default_factory=dict)
    numbers: dict[str, Number] = field(default_factory=dict)  # from operator files
    raw_numbers: dict[str, bytes] = field(default_factory=dict)  # as Redis held them

    @property
    def latest(self) -> View:
        """The newest of everything read: each flow's version, every center."""
        return View("", None, self.versions, self.centers)

    def seed(self, config: Config) -> None:
        """Start from operator files, for a process that starts while Redis is down."""
        self.numbers.update(config.numbers)
        self.versions.update({f: 0 for f in config.flows})
        self.centers.update(config.centers)

    def learn(self, view: View, centers_named: Iterable[str]) -> None:
        """Merge one refused commit's objects: its flow's version and the centers named (one
        Redis no longer holds is forgotten)."""
        for center_id in centers_named:
            if center_id not in view.centers:
                self.centers.pop(center_id, None)
        self.centers.update(view.centers)
        self.versions.update(view.versions)

    def merge(self, versions: Mapping[str, int], centers: Mapping[str, Center]) -> None:
        """Merge a whole reading of the published flows and centers (the fallback pass)."""
        self.versions.update(versions)
        self.centers.update(centers)


class Views:
    """Each scope's last view, and the parsed objects they are made of."""

    def __init__(self) -> None:
        self._views: dict[Scope, View] = {}
        self._centers: dict[bytes, Center] = {}
        self._numbers: dict[tuple[str, bytes], Number] = {}

    def get(self, scope: Scope) -> View:
        """The last view of this scope; EMPTY if none yet."""
        return self._views.get(scope, EMPTY)

    def learn(
        self,
        scope: Scope,
        digest: str,
        number: Number | None,
        versions: Mapping[str, int],
        centers_flat: list[bytes],
    ) -> tuple[View, list[str]]:
        """The scope's view from a refused commit's reply; also the center ids it named."""
        named = [c.decode() for c in centers_flat[::2]]
        raw = {c: doc for c, doc in zip(centers_flat[::2], centers_flat[1::2], strict=True) if doc}
        view = View(digest, number, versions, self.centers(raw))
        if len(self._views) >= CACHED:
            self._views.clear()
        self._views[scope] = view
        return view, named

    def centers(self, raw: Mapping[bytes, bytes]) -> dict[str, Center]:
        """Parsed centers; one that does not parse is left out (logged), never guessed."""
        centers = {}
        for center_id, doc in raw.items():
            center = self._centers.get(doc)
            if center is None:
                problems = Problems("redis")
                try:
                    center = parse_center(center_id.decode(), json.loads(doc), problems)
                except ValueError as exc:
                    problems.add(f"center '{center_id!r}'", "", f"is not JSON: {exc}")
                if problems.fatal or center is None:
                    log.error("published center is invalid, left out: %s", problems.fatal[0])
                    continue
                if len(self._centers) >= CACHED:
                    self._centers.clear()
                self._centers[doc] = center
            centers[center.id] = center
        return centers

    def number(self, to: str, raw: bytes) -> Number | None:
        """The parsed number; None (logged) when it does not parse."""
        number = self._numbers.get((to, raw))
        if number is None:
            problems = Problems("redis")
            try:
                number = parse_number(to, json.loads(raw), problems)
            except ValueError as exc:
                problems.add(f"number '{to}'", "", f"is not JSON: {exc}")
            if problems.fatal or number is None:
                log.error("published number is invalid: %s", problems.fatal[0])
                return None
            if len(self._numbers) >= CACHED:
                self._numbers.clear()
            self._numbers[(to, raw)] = number
        return number
