"""Random crops from an image folder, held in memory as uint8.

Every image is decoded once. One whose shorter side exceeds ``zoom * size`` is first resized so that
it is ``zoom * size`` (a crop then covers most of the photo, as the evaluation's centre crop does);
one smaller than ``size`` is resized up to it. Batches are drawn from a generator seeded by
``(seed, rank, step)``, so a resumed or distributed run draws exactly what it would have drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import progress
from ..errors import ImageError
from ..images import list_images


def _decode(path: Path, size: int, zoom: float) -> torch.Tensor:
    try:
        with Image.open(path) as f:
            img = f.convert("RGB")
            w, h = img.size
            short = min(w, h)
            target = max(size, int(math.ceil(size * zoom)))
            if short > target or short < size:
                scale = (target if short > target else size) / short
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
            a = np.asarray(img)
    except (UnidentifiedImageError, OSError) as e:
        raise ImageError(f"cannot read image {path}: {e}") from None
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


def batch_generator(seed: int, rank: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + int(rank) * 7919 + int(step)) % (2 ** 63))


class CropSource:
    """``CropSource(files, size)``: ``batch(n, gen)`` -> float images (n, 3, size, size) in [0, 1]."""

    def __init__(self, files: Sequence[Path], size: int, zoom: float = 1.25, show: Optional[bool] = None,
                 desc: str = "decoding"):
        if not files:
            raise ImageError("no training images")
        self.size = int(size)
        self.images: List[torch.Tensor] = [_decode(Path(f), self.size, zoom)
                                           for f in progress.bar(files, desc=desc, show=show, unit="img")]

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, n: int, gen: torch.Generator) -> torch.Tensor:
        s = self.size
        idx = torch.randint(len(self.images), (n,), generator=gen)
        flip = torch.rand(n, generator=gen) < 0.5
        u = torch.rand(n, 2, generator=gen)
        out = torch.empty((n, 3, s, s), dtype=torch.uint8)
        for j in range(n):
            img = self.images[int(idx[j])]
            h, w = img.shape[-2:]
            y0 = int(u[j, 0] * (h - s + 1))
            x0 = int(u[j, 1] * (w - s + 1))
            crop = img[:, y0:y0 + s, x0:x0 + s]
            out[j] = crop.flip(-1) if flip[j] else crop
        return out.float().div_(255.0)

    def centre(self, limit: Optional[int] = None) -> torch.Tensor:
        """Centre crops of the first ``limit`` images (for validation and input statistics)."""
        s = self.size
        out = []
        for img in self.images[:limit]:
            h, w = img.shape[-2:]
            y0, x0 = (h - s) // 2, (w - s) // 2
            out.append(img[:, y0:y0 + s, x0:x0 + s])
        return torch.stack(out).float().div_(255.0)


def in_batches(fn, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks of ``batch`` along the first dimension, concatenated."""
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def evenly_spaced(files: Sequence, n: int) -> list:
    """``n`` items spread evenly over ``files`` (all of them if there are fewer)."""
    files = list(files)
    if n >= len(files):
        return files
    return [files[(i * len(files)) // n] for i in range(n)]


def split_files(data: str, val: Optional[str], val_n: int):
    """Training files and validation files: ``val`` if given (``val_n`` of its images), else
    ``min(val_n, 5%)`` images of ``data`` held back from training; either way evenly spaced in name
    order, so that every class folder is represented."""
    files = list_images(data, recursive=True)
    if val is not None:
        return files, evenly_spaced(list_images(val, recursive=True), val_n)
    k = min(val_n, max(1, len(files) // 20))
    if len(files) - k < 1:
        raise ImageError(f"{data} has {len(files)} image(s): too few to hold back validation images; pass --val")
    held = set(evenly_spaced(files, k))
    return [f for f in files if f not in held], sorted(held)
