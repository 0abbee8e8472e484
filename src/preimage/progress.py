"""Progress bars: tqdm, silent when asked or when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Iterable, Optional

from tqdm.auto import tqdm

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (or re-enable) every progress bar of the package."""
    global _QUIET
    _QUIET = bool(quiet)


def enabled(show: Optional[bool] = None) -> bool:
    """Whether a bar should be drawn: ``show`` if given, else not quiet and stderr is a terminal."""
    if show is not None:
        return bool(show)
    return not _QUIET and sys.stderr.isatty()


def bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None, desc: str = "",
        show: Optional[bool] = None, unit: str = "it", leave: bool = False):
    return tqdm(iterable, total=total, desc=desc, disable=not enabled(show), unit=unit,
                leave=leave, dynamic_ncols=True, file=sys.stderr)
