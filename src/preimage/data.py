"""Streaming image folders: decode in ``torch.utils.data`` worker processes, hand out batches, keep
nothing, so memory does not grow with the folder.

:func:`stream_folder` yields ``(indices, images)`` batches (images float (B, 3, S, S) in [0, 1],
resized by the shorter side and centre-cropped to ``size``) in the folder's name order; a corrupt
image is one clear :class:`~preimage.errors.ImageError` naming it, or (``skip_bad=True``) skipped and
counted in :attr:`Stream.skipped`. The order and the batches do not depend on ``workers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import torch

from .errors import ImageError


class _Files(torch.utils.data.Dataset):
    def __init__(self, files: Sequence[Path], size: int, skip_bad: bool):
        self.files, self.size, self.skip_bad = list(files), int(size), skip_bad

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from .images import load_image

        try:
            return i, load_image(self.files[i], self.size)
        except ImageError as e:
            if self.skip_bad:
                return i, None
            raise ImageError(str(e)) from None


def _collate(items):
    good = [(i, x) for i, x in items if x is not None]
    bad = [i for i, x in items if x is None]
    idx = torch.tensor([i for i, _ in good], dtype=torch.long)
    imgs = torch.stack([x for _, x in good]) if good else torch.empty(0)
    return idx, imgs, bad


class Stream:
    """Batches of a folder's images; iterate for ``(indices, images)``."""

    def __init__(self, files: Sequence[Path], size: int, batch: int = 256, workers: int = 0, skip_bad: bool = False,
                 show: Optional[bool] = None, desc: str = "reading images"):
        self.files = list(files)
        self.size, self.batch, self.workers, self.skip_bad, self.show, self.desc = size, batch, workers, skip_bad, show, desc
        self.skipped: List[Path] = []

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> torch.Tensor:
        from .images import load_image

        return load_image(self.files[i], self.size)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        from . import progress

        loader = torch.utils.data.DataLoader(_Files(self.files, self.size, self.skip_bad), batch_size=self.batch,
                                             shuffle=False, num_workers=self.workers, collate_fn=_collate)
        bar = progress.bar(total=len(self.files), desc=self.desc, show=self.show, unit="img")
        it = iter(loader)
        try:
            for idx, imgs, bad in it:
                self.skipped += [self.files[i] for i in bad]
                bar.update(len(idx) + len(bad))
                if len(idx):
                    yield idx, imgs
        except RuntimeError as e:  # an ImageError raised inside a worker process arrives wrapped
            msg = str(e)
            if "ImageError" in msg:
                line = next((ln for ln in msg.splitlines() if "ImageError:" in ln), msg.splitlines()[-1])
                raise ImageError(line.split("ImageError:", 1)[1].strip()) from None
            raise
        finally:
            bar.close()
            shutdown = getattr(it, "_shutdown_workers", None)
            if shutdown is not None:  # stopped early (an error, a break): end the worker processes now
                shutdown()


class TensorStream:
    """Batches of images already in memory, with names (the same interface as :class:`Stream`)."""

    def __init__(self, images: torch.Tensor, names: Sequence[str], batch: int = 256):
        self.images, self.files, self.batch = images, list(names), batch
        self.size = int(images.shape[-1])
        self.skipped: List[Path] = []

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self):
        for s in range(0, len(self.images), self.batch):
            yield torch.arange(s, min(s + self.batch, len(self.images))), self.images[s:s + self.batch]

    def image(self, i: int) -> torch.Tensor:
        return self.images[i]


def stream_folder(folder: str, size: int, batch: int = 256, workers: int = 0, limit: Optional[int] = None,
                  skip_bad: bool = False, show: Optional[bool] = None, desc: str = "reading images") -> Stream:
    """Stream the images of ``folder`` (searched recursively, name order; the first ``limit``)."""
    from .images import list_images

    files = list_images(folder, recursive=True)
    if limit is not None:
        files = files[:limit]
    return Stream(files, size, batch, workers, skip_bad, show, desc)


def folder_images(folder: str, n: int, size: int) -> Tuple[List[Path], torch.Tensor]:
    """``n`` images of a folder (searched recursively), evenly spaced in name order, loaded at
    ``size``: (files, images)."""
    from .images import list_images, load_image
    from .learned.data import evenly_spaced

    files = evenly_spaced(list_images(folder, recursive=True), n)
    return files, torch.stack([load_image(f, size) for f in files])
