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
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Optional, Protocol, runtime_checkable

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
