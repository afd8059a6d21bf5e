"""How far a long `ivr check` or `ivr load` has got, on stderr: a line per phase with what it
went through and how long it took, and on a terminal a running count inside the long ones.
Off a terminal (scripts, CI) it stays quiet for a folder under LARGE numbers."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

T = TypeVar("T")
LARGE = 10_000  # numbers
EVERY = 5_000  # items between two running counts on a terminal


class Progress:
    """Phase lines and running counts for one run of a command."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.size = 0  # numbers in the folder, once read

    @property
    def shown(self) -> bool:
        """Whether anything is printed: on a terminal, or for a large folder."""
        return self.tty or self.size >= LARGE

    def counting(self, what: str, items: Iterable[T], total: int) -> Iterator[T]:
        """The items, with a running count of them on a terminal."""
        if not self.tty or total < EVERY:
            yield from items
            return
        for done, item in enumerate(items, 1):
            if done % EVERY == 0:
                print(f"\r{what} {done:,}/{total:,}", end="", file=self.stream, flush=True)
            yield item
        print("\r\033[K", end="", file=self.stream, flush=True)

    @contextmanager
    def phase(self, what: str) -> Iterator[None]:
        """Time a phase; its line (``what`` may name ``{size}``) once it is done."""
        start = time.perf_counter()
        yield
        if self.shown:
            print(
                f"{what.format(size=f'{self.size:,}')} in {time.perf_counter() - start:.1f} s",
                file=self.stream,
                flush=True,
            )
