"""One data pipeline for every command that reads images: an image folder or WebDataset tar shards,
decoded in ``torch.utils.data`` worker processes, handed out in batches, nothing kept.

* :class:`Items` indexes the images - a folder's files (searched recursively, name order) or the
  members of tar shards (``'train-{000000..000127}.tar'``; shard order, then member order) - as
  names, byte ranges and class labels, so it costs bytes per image, not pixels. Under ``torchrun``
  :func:`list_items` gives each rank its own shards (``shards[rank::world]``; a folder: every
  ``world``-th file), so no rank reads another's data.
* :class:`Stream` yields ``(indices, images)`` batches in order (float (B, 3, S, S) in [0, 1],
  shorter side resized and center-cropped); the batches do not depend on ``workers``.
* :func:`crop_batches` yields a trainer's batches: the random crops of step ``s`` on rank ``r``
  are drawn from a generator seeded by ``(seed, rank, s)`` and decoded when asked for, so the first
  step comes after decoding one batch whatever the folder's size, and resume and ``torchrun`` stay
  bit-exact whatever ``workers``.
* :func:`make_shards` writes a folder as WebDataset shards (``KEY.jpg`` / ``KEY.png`` as the file's
  own bytes, ``KEY.cls`` the class index, ``KEY.txt`` the class folder's name).

A corrupt image is one :class:`~preimage.errors.ImageError` naming it (the file, or
``shard.tar:member``); with ``skip_bad`` it is skipped and counted instead. The default is the error.
"""

from __future__ import annotations

import io
import math
import os
import re
import tarfile
import time
from pathlib import Path
from typing import Generator, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import _io, progress
from .errors import ImageError, OutputError
from .images import IMAGE_SUFFIXES, decode_image, image_folder, resize_crop, unreadable
from .keys import keyed

SHARD_HINT = "make them with 'preimage make-shards DIR --out PREFIX'"


# ---------------------------------------------------------------- memory
_LIBC: list = []


def release_memory() -> None:
    """Hand the heap's free pages back to the system (glibc's ``malloc_trim``; nothing elsewhere).

    glibc serves blocks below a threshold that grows with the largest block freed (up to 32 MB)
    from its heap, so one batch's activations, freed and allocated again at slightly other sizes,
    fragment the heap and a streaming run's peak memory creeps up with its length
    (eval-classifier, batches of 500: 532 MB at 1,000 images, 572 MB at 10,000). Trimming after
    each batch keeps it flat (536 MB) at no measurable cost (22.9 s either way); a fixed mmap
    threshold did too but cost 7% here and 63% in training (BENCHMARKS.md "Data at scale").
    :class:`Stream` calls it after every batch."""
    if not _LIBC:
        import ctypes
        import sys

        lib = None
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL("libc.so.6")
                if not hasattr(lib, "malloc_trim"):  # other C libraries lack it
                    lib = None
            except OSError:
                lib = None
        _LIBC.append(lib)
    if _LIBC[0] is not None:
        _LIBC[0].malloc_trim(0)


# ---------------------------------------------------------------- the index
class Items:
    """Images by index: ``name(i)``, ``read(i)`` (the encoded bytes), ``label(i)`` (class name or
    None), ``load(i, size)`` (decoded float image)."""

    def __init__(self, names: List[str], labels: Optional[List[Optional[str]]] = None,
                 shards: Optional[List[str]] = None, shard_of=None, offsets=None, sizes=None, spec: str = ""):
        self.names = names
        self.spec = spec
        table = sorted({v for v in (labels or []) if v is not None})
        self.label_names = table
        where = {v: i for i, v in enumerate(table)}
        self._labels = np.array([where[v] if v is not None else -1 for v in labels], dtype=np.int32) \
            if labels is not None else np.full(len(names), -1, dtype=np.int32)
        self.shards = shards or []
        self._shard = np.asarray(shard_of if shard_of is not None else [], dtype=np.int32)
        self._offset = np.asarray(offsets if offsets is not None else [], dtype=np.int64)
        self._size = np.asarray(sizes if sizes is not None else [], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def sharded(self) -> bool:
        return bool(self.shards)

    def name(self, i: int) -> str:
        return self.names[i]

    @property
    def shard_of(self) -> np.ndarray:
        """Each image's shard (its position in ``shards``); empty for a folder."""
        return self._shard.astype(np.int64)

    def label(self, i: int) -> Optional[str]:
        k = int(self._labels[i])
        return self.label_names[k] if k >= 0 else None

    def labels(self) -> List[Optional[str]]:
        return [self.label(i) for i in range(len(self))]

    def read(self, i: int) -> bytes:
        try:
            if not self.shards:
                with open(self.names[i], "rb") as f:
                    return f.read()
            with open(self.shards[int(self._shard[i])], "rb") as f:
                f.seek(int(self._offset[i]))
                data = f.read(int(self._size[i]))
        except OSError as e:
            raise ImageError(f"cannot read image {self.names[i]}: {e.strerror or e}") from None
        if len(data) != int(self._size[i]):
            raise ImageError(f"cannot read image {self.names[i]}: the shard ends early (truncated?)")
        return data

    def load(self, i: int, size: Optional[int] = None) -> torch.Tensor:
        return decode_image(self.read(i), self.names[i], size)

    def subset(self, indices: Sequence[int]) -> "Items":
        idx = [int(i) for i in indices]
        out = Items([self.names[i] for i in idx], [self.label(i) for i in idx], spec=self.spec)
        if self.shards:
            out.shards = self.shards
            out._shard, out._offset, out._size = self._shard[idx], self._offset[idx], self._size[idx]
        return out

    def evenly_spaced(self, n: Optional[int]) -> "Items":
        """``n`` items spread evenly over the index (all of them if there are fewer or ``n`` is None)."""
        if n is None or n >= len(self):
            return self
        return self.subset([(i * len(self)) // n for i in range(n)])


class TensorItems(Items):
    """Images already decoded in memory, by index, with names (crops of photos, a test's pictures):
    what a job that reads :class:`Items` takes when its images are not files."""

    def __init__(self, images: torch.Tensor, names: Sequence[str]):
        super().__init__(list(names))
        self.images = images

    def read(self, i: int) -> bytes:
        raise ImageError(f"{self.names[i]} is held in memory, not encoded")

    def load(self, i: int, size: Optional[int] = None) -> torch.Tensor:
        x = self.images[i].float()
        return resize_crop(x, size) if size is not None and tuple(x.shape[-2:]) != (size, size) else x

    def subset(self, indices: Sequence[int]) -> "TensorItems":
        idx = [int(i) for i in indices]
        return TensorItems(self.images[idx], [self.names[i] for i in idx])


def class_indices(items: Items, classes: Optional[Sequence[str]]) -> Optional[torch.Tensor]:
    """Each image's index among ``classes`` from its label (a class folder's or a shard's class
    name, or a shard's class number), or None unless every image has one."""
    if not classes:
        return None
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for v in items.labels():
        if v in index:
            out.append(index[v])
        elif v is not None and v.isdigit() and int(v) < len(classes):
            out.append(int(v))
        else:
            return None
    return torch.tensor(out, dtype=torch.long)


def is_shards(data: str) -> bool:
    """Whether ``data`` names tar shards (a ``.tar`` file or a brace pattern) rather than a folder."""
    s = str(data)
    return s.endswith(".tar") or bool(re.search(r"\{\d+\.\.\d+\}", s))


def expand_pattern(pattern: str) -> List[str]:
    """``'a-{000..002}.tar'`` -> ``['a-000.tar', 'a-001.tar', 'a-002.tar']`` (zero padding kept;
    several ranges expand as a product)."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if m is None:
        return [pattern]
    lo, hi = m.group(1), m.group(2)
    width = len(lo) if lo.startswith("0") or len(lo) == len(hi) else 0
    if int(hi) < int(lo):
        raise ImageError(f"shard pattern {pattern!r}: the range {{{lo}..{hi}}} runs backwards")
    out = []
    for k in range(int(lo), int(hi) + 1):
        out += expand_pattern(pattern[:m.start()] + str(k).zfill(width) + pattern[m.end():])
    return out


def _walk(folder: str) -> List[str]:
    """Image files under ``folder`` as strings, in the order of their path components (the order
    ``sorted(Path...)`` gives); lighter than Path objects when a folder holds a million images."""

    root = str(image_folder(folder))
    out = []
    for d, _dirs, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES]
    out.sort(key=lambda f: f.split(os.sep))
    if not out:
        raise ImageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return out


def index_folder(folder: str) -> Items:
    """A folder's images, searched recursively, in name order; label = the parent folder's name."""
    files = _walk(folder)
    root = os.path.normpath(str(folder))
    labels: List[Optional[str]] = []
    for f in files:
        d = os.path.dirname(f)
        labels.append(os.path.basename(d) if os.path.normpath(d) != root else None)
    return Items(files, labels, spec=str(folder))


def _index_shard(path: str):
    """(member names, offsets, sizes, labels) of the images in one tar shard."""

    images: dict = {}
    labels: dict = {}
    try:
        with tarfile.open(path, "r:") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                base = m.name.rsplit("/", 1)[-1]
                key_dir = m.name[:len(m.name) - len(base)]
                stem, dot, ext = base.partition(".")
                key = key_dir + stem
                if "." + ext.lower() in IMAGE_SUFFIXES and key not in images:
                    images[key] = (m.name, m.offset_data, m.size)
                elif ext in ("txt", "cls") and (ext == "txt" or key not in labels):  # a class name beats a number
                    f = tf.extractfile(m)
                    labels[key] = f.read().decode("utf-8", "replace").strip() if f else None
    except tarfile.ReadError as e:
        hint = " (compressed shards cannot be read at random; " + SHARD_HINT + ")" if path.endswith((".gz", ".xz", ".bz2")) else ""
        raise ImageError(f"{path} is not a readable tar shard: {e}{hint}") from None
    except OSError as e:
        raise ImageError(f"cannot read shard {path}: {e.strerror or e}") from None
    keys = list(images)
    return ([images[k][0] for k in keys], [images[k][1] for k in keys], [images[k][2] for k in keys],
            [labels.get(k) for k in keys])


def index_shards(pattern: str, rank: int = 0, world: int = 1) -> Items:
    """The images of the shards ``pattern`` names that belong to ``rank`` (``shards[rank::world]``)."""
    shards = expand_pattern(str(pattern))
    missing = [s for s in shards if not Path(s).is_file()]
    if missing:
        raise ImageError(f"shard pattern {pattern!r}: {len(missing)} of {len(shards)} shard(s) not found "
                         f"(first: {missing[0]})")
    if len(shards) < world:
        raise ImageError(f"shard pattern {pattern!r} names {len(shards)} shard(s) for {world} processes: each process "
                         f"needs at least one of its own; write more shards (--per-shard) or run fewer processes")
    mine = shards[rank::world]
    names, shard_of, offsets, sizes, labels = [], [], [], [], []
    for k, s in enumerate(mine):
        members, off, size, lab = _index_shard(s)
        names += [f"{s}:{m}" for m in members]
        shard_of += [k] * len(members)
        offsets += off
        sizes += size
        labels += lab
    if not names:
        raise ImageError(f"no images in the shard(s) of {pattern!r}" + (f" for rank {rank} of {world}" if world > 1 else ""))
    return Items(names, labels, mine, shard_of, offsets, sizes, spec=str(pattern))


def list_items(data: str, rank: int = 0, world: int = 1) -> Items:
    """The images of a folder or of tar shards; with ``world`` > 1, only ``rank``'s share."""
    if is_shards(data):
        return index_shards(data, rank, world)
    items = index_folder(data)
    if world > 1:
        items = items.subset(range(rank, len(items), world))
    return items


# ---------------------------------------------------------------- streaming in order
class _Decoded(torch.utils.data.Dataset):
    def __init__(self, items: Items, size: int, skip_bad: bool):
        self.items, self.size, self.skip_bad = items, int(size), skip_bad

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        try:
            return i, self.items.load(i, self.size)
        except ImageError:
            if self.skip_bad:
                return i, None
            raise


def _collate(items):
    good = [(i, x) for i, x in items if x is not None]
    bad = [i for i, x in items if x is None]
    idx = torch.tensor([i for i, _ in good], dtype=torch.long)
    imgs = torch.stack([x for _, x in good]) if good else torch.empty(0)
    return idx, imgs, bad


def _worker_error(e: Exception) -> Optional[ImageError]:
    """The :class:`ImageError` a worker process raised: it reaches the main process re-raised with
    the worker's whole traceback as its message; the error's own line is what the user needs."""
    msg = str(e)
    if "ImageError" not in msg or "DataLoader worker" not in msg:
        return None
    line = next((ln for ln in msg.splitlines() if "ImageError:" in ln), msg.splitlines()[-1])
    return ImageError(line.split("ImageError:", 1)[1].strip())


def _loader(dataset, workers: int, **kw) -> torch.utils.data.DataLoader:
    if workers < 0:
        raise ImageError(f"--workers must be 0 or more, got {workers}")
    return torch.utils.data.DataLoader(dataset, num_workers=workers, prefetch_factor=4 if workers > 0 else None, **kw)


def _iterate(loader) -> Generator:
    it = iter(loader)
    try:
        yield from it
    except (RuntimeError, ImageError) as e:
        err = _worker_error(e)
        if err is not None:
            raise err from None
        raise
    finally:
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:  # stopped early (an error, a break): end the worker processes now
            shutdown()


class Stream:
    """Batches of images in index order; iterate for ``(indices, images)``."""

    def __init__(self, items: Items, size: int, batch: int = 256, workers: int = 0, skip_bad: bool = False,
                 show: Optional[bool] = None, desc: str = "reading images"):
        self.items = items
        self.size, self.batch, self.workers, self.skip_bad, self.show, self.desc = size, batch, workers, skip_bad, show, desc
        self.skipped: List[str] = []

    @property
    def files(self) -> List[str]:
        return self.items.names

    def __len__(self) -> int:
        return len(self.items)

    def image(self, i: int) -> torch.Tensor:
        return self.items.load(i, self.size)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        loader = _loader(_Decoded(self.items, self.size, self.skip_bad), self.workers, batch_size=self.batch,
                         shuffle=False, collate_fn=_collate)
        bar = progress.bar(total=len(self.items), desc=self.desc, show=self.show, unit="img")
        try:
            for idx, imgs, bad in _iterate(loader):
                self.skipped += [self.items.name(i) for i in bad]
                bar.update(len(idx) + len(bad))
                if len(idx):
                    yield idx, imgs
                    del imgs
                    release_memory()  # the consumer is done with the batch
        finally:
            bar.close()


class TensorStream:
    """Batches of images already in memory, with names (the same interface as :class:`Stream`)."""

    def __init__(self, images: torch.Tensor, names: Sequence[str], batch: int = 256):
        self.images, self.files, self.batch = images, list(names), batch
        self.size = int(images.shape[-1])
        self.skipped: List[str] = []

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for s in range(0, len(self.images), self.batch):
            yield torch.arange(s, min(s + self.batch, len(self.images))), self.images[s:s + self.batch]

    def image(self, i: int) -> torch.Tensor:
        return self.images[i]


#: either kind of batched image source (``files``, ``size``, ``skipped``, ``image(i)``, iteration)
ImageStream = Union[Stream, TensorStream]


def stream_folder(data: str, size: int, batch: int = 256, workers: int = 0, limit: Optional[int] = None,
                  skip_bad: bool = False, show: Optional[bool] = None, desc: str = "reading images") -> Stream:
    """Stream the images of a folder or of tar shards: all of them, or ``limit`` evenly spaced over
    them in name order (what ``--n`` means for every command: every class folder is represented)."""
    items = list_items(data).evenly_spaced(limit)
    return Stream(items, size, batch, check_workers(workers, len(items), batch), skip_bad, show, desc)


def check_workers(workers: int, images: int, batch: int) -> int:
    """``--workers``, refused past the cores this process may use and capped at the number of batches
    (more processes than batches would only start and wait)."""
    cores = usable_cores()
    if workers > cores:
        raise ImageError(f"--workers {workers} is more than the {cores} core(s) this process may use")
    return min(workers, max(1, -(-images // max(1, batch))))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def folder_images(data: str, n: int, size: int, workers: int = 0) -> Tuple[List[str], torch.Tensor]:
    """``n`` images of a folder or shards, evenly spaced in index order, decoded into memory at
    ``size``: (names, images). For the small sets that are shown or attacked whole."""
    s = stream_folder(data, size, batch=64, workers=workers, limit=n, show=False)
    return s.files, torch.cat([x for _, x in s])


# ---------------------------------------------------------------- training crops
def batch_generator(seed: int, rank: int, step: int) -> torch.Generator:
    """The generator of training step ``step`` on ``rank`` (crops, flips, augmentation)."""
    return keyed(seed, "step", rank, step)


def decode_for_crops(data: bytes, name: str, size: int, zoom: float) -> torch.Tensor:
    """uint8 (3, H, W): an image whose shorter side exceeds ``zoom * size`` resized so that it is
    ``zoom * size`` (a crop then covers most of the photo); one smaller than ``size`` resized up to it."""
    try:
        with Image.open(io.BytesIO(data)) as f:
            img = f.convert("RGB")
            w, h = img.size
            short = min(w, h)
            target = max(size, int(math.ceil(size * zoom)))
            if short > target or short < size:
                scale = (target if short > target else size) / short
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
            a = np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise unreadable(name, e) from None
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def _crop(img: torch.Tensor, s: int, uy: float, ux: float) -> torch.Tensor:
    h, w = img.shape[-2:]
    y0, x0 = int(uy * (h - s + 1)), int(ux * (w - s + 1))
    return img[:, y0:y0 + s, x0:x0 + s]


class CropBatches(torch.utils.data.Dataset):
    """Item ``step`` -> (uint8 (n, 3, S, S) random crops and flips, unreadable names skipped,
    seconds spent decoding). Everything random comes from ``batch_generator(seed, rank, step)``."""

    def __init__(self, items: Items, size: int, n: int, seed: int, rank: int = 0, zoom: float = 1.25,
                 skip_bad: bool = False):
        if not len(items):
            raise ImageError("no training images")
        self.items, self.size, self.n, self.seed, self.rank, self.zoom, self.skip_bad = \
            items, int(size), int(n), int(seed), int(rank), zoom, skip_bad

    def __len__(self) -> int:
        return 2 ** 62

    def _image(self, k: int, skipped: List[str]) -> torch.Tensor:
        for j in range(len(self.items)):  # an unreadable image is replaced by the next readable one
            i = (k + j) % len(self.items)
            try:
                return decode_for_crops(self.items.read(i), self.items.name(i), self.size, self.zoom)
            except ImageError:
                if not self.skip_bad:
                    raise
                skipped.append(self.items.name(i))
        raise ImageError(f"none of the {len(self.items)} training images can be read")

    def __getitem__(self, step: int):
        t0 = time.perf_counter()
        gen = batch_generator(self.seed, self.rank, step)
        n, s = self.n, self.size
        idx = torch.randint(len(self.items), (n,), generator=gen)
        flip = torch.rand(n, generator=gen) < 0.5
        u = torch.rand(n, 2, generator=gen)
        out = torch.empty((n, 3, s, s), dtype=torch.uint8)
        skipped: List[str] = []
        for j in range(n):
            crop = _crop(self._image(int(idx[j]), skipped), s, float(u[j, 0]), float(u[j, 1]))
            out[j] = crop.flip(-1) if flip[j] else crop
        return out, skipped, time.perf_counter() - t0


def crop_batches(items: Items, size: int, n: int, seed: int, rank: int, start: int, stop: int, workers: int = 0,
                 zoom: float = 1.25, skip_bad: bool = False) -> Generator[Tuple[torch.Tensor, List[str], float], None, None]:
    """The batches of steps ``start`` ... ``stop - 1`` in order: (float images in [0, 1], skipped
    names, decoding seconds). The same for any ``workers``."""
    ds = CropBatches(items, size, n, seed, rank, zoom, skip_bad)
    loader = _loader(ds, workers, batch_size=None, sampler=range(start, stop))
    for batch, skipped, seconds in _iterate(loader):
        yield batch.float().div_(255.0), skipped, seconds


class _Center(torch.utils.data.Dataset):
    def __init__(self, items: Items, size: int, zoom: float, skip_bad: bool = False):
        self.items, self.size, self.zoom, self.skip_bad = items, size, zoom, skip_bad

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Optional[torch.Tensor]:
        try:
            img = decode_for_crops(self.items.read(i), self.items.name(i), self.size, self.zoom)
        except ImageError:
            if self.skip_bad:
                return None
            raise
        h, w = img.shape[-2:]
        y0, x0 = (h - self.size) // 2, (w - self.size) // 2
        return img[:, y0:y0 + self.size, x0:x0 + self.size]


def center_crops(items: Items, size: int, zoom: float = 1.0, workers: int = 0, skip_bad: bool = False) -> torch.Tensor:
    """Float center crops (N, 3, S, S) of every item (validation images, input statistics); with
    ``skip_bad`` the unreadable ones are left out."""
    loader = _loader(_Center(items, size, zoom, skip_bad), workers, batch_size=64, collate_fn=_stack_readable)
    crops = [b for b in _iterate(loader) if len(b)]
    if not crops:
        raise ImageError(f"none of the {len(items)} images can be read")
    return torch.cat(crops).float().div_(255.0)


def _stack_readable(batch: List[Optional[torch.Tensor]]) -> torch.Tensor:
    good = [x for x in batch if x is not None]
    return torch.stack(good) if good else torch.empty(0, dtype=torch.uint8)


def split_items(data: str, val: Optional[str], val_n: int, rank: int = 0, world: int = 1) -> Tuple[Items, Items]:
    """Training and validation images: ``val`` if given (``val_n`` of its images), else
    ``min(val_n, 5%)`` images of ``data`` held back from training; either way evenly spaced, so
    that every class folder is represented. Training images are ``rank``'s share."""
    if val is not None:
        return list_items(data, rank, world), list_items(val).evenly_spaced(val_n)
    every = list_items(data) if is_shards(data) else index_folder(data)
    k = min(val_n, max(1, len(every) // 20))
    if len(every) - k < 1:
        raise ImageError(f"{data} has {len(every)} image(s): too few to hold back validation images; pass --val")
    held = {(i * len(every)) // k for i in range(k)}
    if is_shards(data):  # each rank keeps reading its own shards, less the held-back images
        names = {every.name(i) for i in held}
        mine = list_items(data, rank, world)
        return mine.subset([i for i in range(len(mine)) if mine.name(i) not in names]), every.subset(sorted(held))
    train = every.subset([i for i in range(len(every)) if i not in held])
    if world > 1:
        train = train.subset(range(rank, len(train), world))
    return train, every.subset(sorted(held))


# ---------------------------------------------------------------- writing shards
def make_shards(folder: str, prefix: str, per_shard: int = 10000, force: bool = False,
                show: Optional[bool] = None) -> List[str]:
    """Write ``folder``'s images (recursive, name order) as uncompressed WebDataset shards
    ``PREFIX-000000.tar``, ...: member ``KEY.EXT`` holds the file's own bytes; for
    ``root/<class>/<file>``, ``KEY.cls`` the class's index among the sorted class folders (the
    WebDataset convention) and ``KEY.txt`` its name. Each shard is written atomically. Returns the paths."""

    if per_shard < 1:
        raise ImageError(f"--per-shard must be at least 1, got {per_shard}")
    items = index_folder(folder)
    classes = sorted({v for v in items.labels() if v is not None})
    count = -(-len(items) // per_shard)
    width = max(6, len(str(count - 1)))
    paths = [f"{prefix}-{k:0{width}d}.tar" for k in range(count)]
    existing = _shards_of(prefix)
    if existing and not force:
        raise OutputError(f"{existing[0]} exists ({len(existing)} shard(s) with this prefix); pass --force to replace them")
    try:
        Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write shards to {Path(prefix).parent}: {e.strerror or e}") from None
    bar = progress.bar(total=len(items), desc="writing shards", show=show, unit="img")
    for k, path in enumerate(paths):
        def write(tmp: Path, k=k) -> None:
            with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tf:
                for i in range(k * per_shard, min((k + 1) * per_shard, len(items))):
                    key = f"{i:09d}"
                    members = [(f"{key}{Path(items.name(i)).suffix.lower()}", items.read(i))]
                    label = items.label(i)
                    if label is not None:
                        members.append((f"{key}.cls", str(classes.index(label)).encode()))
                        members.append((f"{key}.txt", label.encode()))
                    for name, data in members:
                        info = tarfile.TarInfo(name)
                        info.size, info.mtime, info.mode = len(data), 0, 0o644
                        tf.addfile(info, io.BytesIO(data))
                    bar.update(1)
        _io.atomic_write(path, write)
    bar.close()
    for stale in set(existing) - set(paths):  # an earlier run's shards beyond this run's count
        Path(stale).unlink(missing_ok=True)
    return paths


def _shards_of(prefix: str) -> List[str]:
    """The files ``PREFIX-NNNNNN.tar`` that exist (an earlier ``make_shards`` run's), in name order."""
    folder, name = Path(prefix).parent, Path(prefix).name
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(name) + r"-\d{6,}\.tar")
    return sorted(str(folder / f) for f in os.listdir(folder) if pattern.fullmatch(f))


def shard_pattern(paths: Sequence[str]) -> str:
    """``['p-000000.tar', 'p-000001.tar']`` -> ``'p-{000000..000001}.tar'``."""
    if len(paths) == 1:
        return paths[0]
    m0, m1 = re.search(r"-(\d+)\.tar$", paths[0]), re.search(r"-(\d+)\.tar$", paths[-1])
    assert m0 is not None and m1 is not None
    return f"{paths[0][:m0.start()]}-{{{m0.group(1)}..{m1.group(1)}}}.tar"
