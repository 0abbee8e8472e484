"""Atomic output: every file is written to a temporary sibling, then renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Optional

from .errors import OutputError


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``.

    The destination either keeps its old content or gets the complete new one; a failed
    ``write`` leaves no temporary file behind.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; name a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
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
    def write(p: Path) -> None:
        p.write_bytes(data)

    return atomic_write(path, write)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


MANIFEST = ".preimage-run.json"


def check_output_file(path: str | os.PathLike, force: bool = False, owned_by: Optional[Callable[[Path], bool]] = None) -> Path:
    """Refuse, before any work, an output file that exists (unless ``force``, or ``owned_by(path)``
    says it is this command's own earlier output), that names a folder, or whose folder cannot be
    written (tried by writing and removing a temporary file there); one clear line each."""
    p = Path(path)
    if p.is_dir():
        raise OutputError(f"output {p} is a folder; name a file")
    if p.exists() and not force and not (owned_by is not None and owned_by(p)):
        raise OutputError(f"{p} exists; pass --force to replace it")
    place = p.parent.absolute()
    while not place.exists() and place != place.parent:  # the folders still to make are made by the write
        place = place.parent
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".probe", dir=place)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from None
    return p


class StagedDir:
    """Write a set of files into a hidden staging folder, then move them into ``final`` together.

    Use as a context manager: on an exception nothing reaches ``final`` and the staging folder is
    removed; on success each file is renamed into ``final`` (created if needed), the files of an
    earlier run of the same ``command`` that this run did not write are removed, and a manifest
    (``.preimage-run.json``) records the command and its files - so the folder always holds one
    run's whole output.

    Refused at once (before any work): a ``final`` that is a file, that cannot be written, that
    another run is writing to (a lock beside it), or that holds files of something else (another
    command, or files without a manifest) unless ``force``.
    """

    def __init__(self, final: str | os.PathLike, command: Optional[str] = None, force: bool = False):
        self.final = Path(final)
        self.command = command
        if self.final.exists() and not self.final.is_dir():
            raise OutputError(f"output path {self.final} exists and is not a folder")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            self._lock = _Lock(self.final.parent / f".{self.final.name}.lock")
            locked = self._lock.acquire()
        except OSError as e:
            raise OutputError(f"cannot write to {self.final}: {e.strerror or e}") from None
        if not locked:
            raise OutputError(f"another preimage run is writing to {self.final}; wait for it or choose another --out")
        try:
            self._previous = self._check_owner(force)
            self.stage = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", suffix=".partial", dir=self.final.parent))
        except BaseException as e:
            self._lock.release()
            if isinstance(e, OSError):
                raise OutputError(f"cannot write to {self.final}: {e.strerror or e}") from None
            raise
        self.names: list = []

    @classmethod
    def check(cls, final: str | os.PathLike, command: Optional[str] = None, force: bool = False) -> None:
        """Run the refusals of the constructor now (before a long computation), writing nothing."""
        d = cls(final, command, force)
        d.abandon()

    def abandon(self) -> None:
        import shutil

        shutil.rmtree(self.stage, ignore_errors=True)
        self._lock.release()

    def _check_owner(self, force: bool) -> list:
        """The files an earlier run of this command left (to replace), or a refusal."""

        if not self.final.is_dir():
            return []
        entries = sorted(p.name for p in self.final.iterdir())
        if not entries:
            return []
        try:
            manifest = json.loads((self.final / MANIFEST).read_text())
        except (OSError, ValueError):
            manifest = None
        if manifest is not None and manifest.get("command") == self.command:
            return list(manifest.get("files", []))
        if force:
            return list(manifest.get("files", [])) if manifest else []
        whose = f"'{manifest.get('command')}'" if manifest else "unknown"
        raise OutputError(f"{self.final} is not empty and holds another run's files ({whose}: "
                          f"{', '.join(e for e in entries if e != MANIFEST)[:80]}); choose another --out or pass --force")

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
                written = []
                for p in sorted(self.stage.rglob("*")):
                    if p.is_file():
                        rel = p.relative_to(self.stage)
                        dest = self.final / rel
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        os.chmod(p, 0o666 & ~_umask())
                        os.replace(p, dest)
                        written.append(str(rel))
                for old in set(self._previous) - set(written):
                    (self.final / old).unlink(missing_ok=True)
                    for parent in (self.final / old).parents:  # a subfolder the earlier run made, now empty
                        if parent == self.final or not parent.is_relative_to(self.final):
                            break
                        try:
                            parent.rmdir()
                        except OSError:
                            break
                write_json(self.final / MANIFEST, {"command": self.command, "files": written})
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)
            self._lock.release()


class _Lock:
    """An exclusive, non-blocking lock on a file (removed on release)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: Optional[int] = None

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None
