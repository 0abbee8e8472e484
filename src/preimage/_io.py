"""Atomic output: every file is written to a temporary sibling, then renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``.

    The destination either keeps its old content or gets the complete new one; a failed
    ``write`` leaves no temporary file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


class StagedDir:
    """Write a set of files into a hidden staging folder, then move them into ``final`` together.

    Use as a context manager: on an exception nothing reaches ``final`` and the staging folder is
    removed; on success each file is renamed into ``final`` (created if needed).
    """

    def __init__(self, final: str | os.PathLike):
        self.final = Path(final)
        if self.final.exists() and not self.final.is_dir():
            from .errors import ConfigError

            raise ConfigError(f"output path {self.final} exists and is not a folder")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=".partial", dir=self.final.parent))
        self.names: list = []

    def __truediv__(self, name: str) -> Path:
        self.names.append(name)
        return self.stage / name

    def __enter__(self) -> "StagedDir":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import shutil

        try:
            if exc_type is None:
                self.final.mkdir(parents=True, exist_ok=True)
                for p in sorted(self.stage.rglob("*")):
                    if p.is_file():
                        dest = self.final / p.relative_to(self.stage)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.chmod(p, 0o666 & ~_umask())
                        os.replace(p, dest)
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)
