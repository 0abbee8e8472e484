"""Progress: a tqdm bar on a terminal; off a terminal (logs, CI, a pipe) a plain line on stderr at
each stage's start and end and at most every ~10 s in between (what, step/total, elapsed, time
left); nothing with ``--quiet``."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Optional

from tqdm.auto import tqdm

_QUIET = False
#: seconds between two plain progress lines
EVERY = 10.0


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) all progress output of the package."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled(show: Optional[bool] = None) -> bool:
    """Whether progress is shown at all: ``show`` if given, else unless quiet."""
    if show is not None:
        return bool(show)
    return not _QUIET


def _fmt(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class LogBar:
    """The plain-line progress of a loop (the subset of tqdm's interface the package uses)."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[int] = None, desc: str = "",
                 unit: str = "it", every: float = EVERY, stream=None):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.stream = stream or sys.stderr
        self.n, self.postfix, self.closed = 0, "", False
        self.t0 = self.last = time.monotonic()
        self._line("started")

    def __iter__(self):
        assert self.iterable is not None
        try:
            for x in self.iterable:
                yield x
                self.update(1)
        finally:
            self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def set_postfix(self, **kw) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in kw.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line("done")

    def _line(self, state: str = "") -> None:
        elapsed = time.monotonic() - self.t0
        of = f"/{self.total}" if self.total is not None else ""
        parts = [f"{self.n}{of} {self.unit}", f"{_fmt(elapsed)} elapsed"]
        if state == "done" and self.total is not None and self.n < self.total:
            parts = [f"stopped at {self.n}{of} {self.unit} after {_fmt(elapsed)}"]  # an error or an early end
        elif state == "done":
            parts = [f"done, {self.n}{of} {self.unit} in {_fmt(elapsed)}"]
        elif state == "started":
            parts = [f"started ({self.total} {self.unit})" if self.total is not None else "started"]
        elif self.total and self.n:
            parts.append(f"about {_fmt(elapsed / self.n * (self.total - self.n))} left")
        if self.postfix and state != "started":
            parts.append(self.postfix)
        print(f"preimage: {self.desc}: " + ", ".join(parts), file=self.stream, flush=True)


class _Silent:
    def __init__(self, iterable=None):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw) -> None:
        pass

    def close(self) -> None:
        pass


def bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
        show: Optional[bool] = None, unit: str = "it", leave: bool = False):
    """A progress bar for ``iterable`` (or ``total`` manual updates): tqdm on a terminal, plain
    lines otherwise, nothing when silenced."""
    if not enabled(show):
        return _Silent(iterable)
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, dynamic_ncols=True, file=sys.stderr)
    return LogBar(iterable, total=total, desc=desc, unit=unit)
