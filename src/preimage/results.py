"""One result protocol, and the one function that saves any result.

Every job returns a :class:`Result`: it names its command (the owner of the output folder), gives
a JSON-able record, the lines a terminal prints and the data files it makes (images as PNG bytes,
keyed by file name). Figures and pages are not the job's: :mod:`preimage.report` draws them from
the result and hands them to :meth:`Output.save` beside the result's own files.

An :class:`Output` claims a folder for one run *before* the work starts - the folder is checked
(a file, an unwritable place, another command's files without ``force``) and locked against a
second writer for the whole run - and :meth:`Output.save` writes everything through a staging
folder, then moves it into place with a manifest, so a folder always holds one run's whole output.
This module is the only user of :class:`preimage._io.StagedDir`.

A result shows itself in a notebook through :class:`Shown`: a one-line ``repr`` and, in Jupyter,
its main figure (``_repr_png_``) and a small page (``_repr_html_``). Drawing is the report's:
:mod:`preimage.report.present` registers how each result type is shown in :data:`DISPLAYS` when
it is imported, so this layer never imports the report.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, runtime_checkable

from ._io import StagedDir

#: the record's file name when a result does not name its own
RECORD = "results.json"


@runtime_checkable
class Result(Protocol):
    """What every job returns."""

    #: the command that made it: owner of its output folder (``invert``, ``maximize``, ...)
    command: str

    def to_json(self) -> Dict[str, Any]:
        """The JSON-able record (written as :attr:`record_name`, default ``results.json``)."""
        ...

    def lines(self) -> List[str]:
        """What the terminal prints."""
        ...

    def files(self) -> Dict[str, bytes]:
        """The data files the result makes (name -> bytes), figures and pages excluded."""
        ...


def record_name(result: Result) -> str:
    return getattr(result, "record_name", RECORD)


class Output:
    """An output folder claimed for one run of ``command``: checked and locked when made, written by
    :meth:`save`, released on exit (or by :meth:`close`). Use as a context manager around the work::

        with Output(out, "invert", force) as o:
            result = reconstruct(...)
            o.save(result, figures)
    """

    def __init__(self, out: str | os.PathLike, command: str, force: bool = False):
        self.out = out
        self.command = command
        self._staged: Optional[StagedDir] = StagedDir(out, command=command, force=force)
        self.written: List[str] = []

    def save(self, result: Result, extra: Optional[Mapping[str, bytes]] = None) -> Dict[str, Any]:
        """Write ``result``'s record, its files and ``extra`` (figures, pages) and commit them together;
        returns the record."""
        staged = self._staged
        if staged is None:
            raise RuntimeError(f"output {self.out} was already saved or released")
        record = result.to_json()
        files: Dict[str, bytes] = dict(result.files())
        files.update(extra or {})
        files[record_name(result)] = (json.dumps(record, indent=2) + "\n").encode("utf-8")
        self._staged = None
        with staged as d:
            for name, data in files.items():
                path = d / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        self.written = sorted(files)
        return record

    def close(self) -> None:
        """Release the folder without writing (nothing of this run reaches it)."""
        if self._staged is not None:
            self._staged.abandon()
            self._staged = None

    def __enter__(self) -> "Output":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def save(result: Result, out: str | os.PathLike, force: bool = False,
         extra: Optional[Mapping[str, bytes]] = None) -> Dict[str, Any]:
    """Save any result (its record, files and ``extra``) into ``out`` at once; returns the record."""
    with Output(out, result.command, force) as o:
        return o.save(result, extra)


# ---------------------------------------------------------------- results in a notebook
@dataclass(frozen=True)
class Display:
    """How a result type shows itself, registered by :mod:`preimage.report.present` in :data:`DISPLAYS`.

    ``render(result)``: ``{"image/png": bytes, "text/html": str}`` (either may be missing), drawn
    once per display; ``summary(result)``: its kind and key numbers, one short line.
    """

    render: Callable[[Any], Dict[str, Any]]
    summary: Callable[[Any], str]


#: result type -> how it is shown; filled by :mod:`preimage.report.present` (and the demo) at import
DISPLAYS: Dict[type, Display] = {}


def display_of(result: Any) -> Optional[Display]:
    """The registered :class:`Display` of ``result``'s type (or of its nearest registered base)."""
    for cls in type(result).__mro__:
        if cls in DISPLAYS:
            return DISPLAYS[cls]
    return None


class Shown:
    """A result that shows itself: a short ``repr`` (kind, command, key numbers - never its tensors)
    and, in Jupyter, its main figure and a small page. Mixed into every job's result; a dataclass
    using it is declared with ``@dataclass(repr=False)`` so that this ``__repr__`` is kept."""

    def __repr__(self) -> str:
        d = display_of(self)
        command = getattr(self, "command", "")
        try:
            text = d.summary(self) if d is not None else ""
        except Exception as e:  # a repr must not raise: say what went wrong, briefly
            text = f"(no summary: {type(e).__name__})"
        return f"<{type(self).__name__} {command}" + (f": {text}" if text else "") + ">"

    def _rendered(self) -> Dict[str, Any]:
        d = display_of(self)
        return d.render(self) if d is not None else {}

    def _repr_png_(self) -> Optional[bytes]:
        """The main figure (PNG bytes), or None where the result has none."""
        return self._rendered().get("image/png")

    def _repr_html_(self) -> Optional[str]:
        """The result's page (framed), or its main figure above its lines."""
        return self._rendered().get("text/html")

    def _repr_mimebundle_(self, include=None, exclude=None) -> Dict[str, Any]:
        """What IPython shows: every form at once, the figures drawn once."""
        data: Dict[str, Any] = {"text/plain": repr(self)}
        for mime, value in self._rendered().items():
            data[mime] = base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
        if include:
            data = {k: v for k, v in data.items() if k in include}
        if exclude:
            data = {k: v for k, v in data.items() if k not in exclude}
        return data


class Recorded(Shown):
    """A result that is its record (a ``record`` field kept as it is) and makes no data file of its own."""

    record: Dict[str, Any]

    def to_json(self) -> Dict[str, Any]:
        return self.record

    def files(self) -> Dict[str, bytes]:
        return {}
