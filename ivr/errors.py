"""Onshore's exceptions.

OnshoreError
├── FlowError          an operator file is wrong (names file, place and field)
│   └── FlowErrors     several FlowErrors found in one check
├── StoreUnavailable   Redis did not answer in time or refused
│   ├── CircuitOpen    Redis was not tried: it failed a moment ago (ivr.breaker)
│   └── Unconfirmed    sent, but no reply came in time: Redis may have run it
├── RemovalRefused     a publish would drop live numbers or centers not named for removal
├── UnsafeBridge       the engine was asked to bridge offshore without a disclosure
├── SettingsError      the process environment is incomplete
└── PeriodError        a report's or an export's dates are malformed or out of range
"""

from __future__ import annotations


class OnshoreError(Exception):
    """Base of every error Onshore raises on purpose."""


class FlowError(OnshoreError):
    """One problem in an operator file: where it is, which field, and what is wrong."""

    def __init__(self, file: str, where: str, field: str, message: str, repaired: bool = False) -> None:
        self.file, self.where, self.field, self.message = file, where, field, message
        self.repaired = repaired  # the parser already removed the fault (e.g. a control character)
        super().__init__(str(self))

    def __str__(self) -> str:
        place = " ".join(p for p in (self.where, f"field '{self.field}'" if self.field else "") if p)
        return f"{self.file}: {place}: {self.message}" if place else f"{self.file}: {self.message}"


class FlowErrors(OnshoreError):
    """All problems found in one check, in file order."""

    def __init__(self, errors: list[FlowError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class StoreUnavailable(OnshoreError):
    """Redis could not be read or written within the time budget."""


class CircuitOpen(StoreUnavailable):
    """Redis was skipped, not tried: it failed a moment ago and is not due for a probe."""


class Unconfirmed(StoreUnavailable):
    """A command reached Redis, or may have, and no reply came in time: Redis may have run
    it (it ran, then hung or died before its reply left; or the reply is late)."""


class RemovalRefused(OnshoreError):
    """A publish would take live numbers or centers away that the operator did not name."""

    def __init__(self, numbers: list[str], centers: list[str]) -> None:
        self.numbers, self.centers = numbers, centers
        dropped = [f"number {n}" for n in numbers] + [f"center {c}" for c in centers]
        super().__init__(
            "nothing published: this would remove what is live now: "
            + ", ".join(dropped)
            + "; name each with --allow-removal ID to remove it on purpose"
        )


class UnsafeBridge(OnshoreError):
    """A bridge to an offshore center was reached without a disclosure of its location."""


class SettingsError(OnshoreError):
    """A required setting is missing or malformed."""


class PeriodError(OnshoreError):
    """A period's dates are malformed, out of the record's range, or in the wrong order."""
