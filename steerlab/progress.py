"""Progress where people wait: a tqdm bar on a terminal, a plain log line every few seconds elsewhere.

A SLURM log is not a terminal: tqdm there either prints nothing (`disable=None`) or carriage-return redraws that
end up as one unreadable line. `progress()` keeps the bar for terminals and, everywhere else, logs
`desc: i/total (p %), elapsed s[, postfix]` at most every `every_s` seconds, and once at the end when the loop
took longer than that.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

log = logging.getLogger("steerlab.progress")
T = TypeVar("T")
EVERY_S = float(os.environ.get("STEERLAB_PROGRESS_EVERY", "10"))  # seconds between lines when stderr is not a terminal


def on_terminal() -> bool:
    return sys.stderr.isatty()


class Lines:
    """The non-terminal stand-in of a tqdm bar: iterate, `set_postfix`, `update`; a log line every `every_s` seconds."""

    def __init__(self, iterable: Iterable[T] | None, desc: str, total: int | None, every_s: float):
        self.iterable, self.desc, self.every_s = iterable, desc, every_s
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self.postfix, self.said_n = 0, "", 0
        self.t0 = self.said = time.monotonic()

    def __iter__(self) -> Iterator[T]:
        for item in self.iterable:
            yield item
            self.update()
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.said >= self.every_s:
            self.say(now)

    def set_postfix(self, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def say(self, now: float) -> None:
        part = f"{self.n}/{self.total} ({100 * self.n / self.total:.0f} %)" if self.total else f"{self.n}"
        log.info("%s: %s, %.0f s%s", self.desc, part, now - self.t0, f", {self.postfix}" if self.postfix else "")
        self.said, self.said_n = now, self.n

    def close(self) -> None:
        now = time.monotonic()
        if now - self.t0 >= self.every_s and self.said_n != self.n:  # the final count, unless the last line said it
            self.say(now)


def progress(
    iterable: Iterable[T] | None = None, desc: str = "", total: int | None = None, every_s: float | None = None, leave: bool = False
):
    """A tqdm bar on a terminal; otherwise a `Lines` that logs a line every `every_s` seconds (same interface)."""
    if on_terminal():
        return tqdm(iterable, desc=desc, total=total, leave=leave)
    return Lines(iterable, desc, total, EVERY_S if every_s is None else every_s)
