"""One keyed random generator for every per-image, per-step and per-unit draw.

``keyed(seed, *parts)`` is a :class:`torch.Generator` seeded from a hash of the run's seed and the
parts that name the draw (``"dropout", image_index``; ``"pgd start", image_index``; ``"unit", unit, sample``;
an image's content). The same parts give the same numbers whatever else is in the batch, on any
number of workers or ranks, so no result depends on its companions.
"""

from __future__ import annotations

import hashlib
from typing import Union

import torch

Part = Union[int, str, bytes]


def mix_key(seed: int, *parts: Part) -> int:
    """A 63-bit key from the seed and any parts (ints, strings, bytes): the same parts, the same key."""
    h = hashlib.sha256(str(int(seed)).encode())
    for p in parts:
        h.update(b"|" + (p if isinstance(p, bytes) else str(p).encode()))
    return int.from_bytes(h.digest()[:8], "little") >> 1


def keyed(seed: int, *parts: Part) -> torch.Generator:
    """A CPU generator seeded by :func:`mix_key` of ``seed`` and ``parts``."""
    return torch.Generator().manual_seed(mix_key(seed, *parts))


def content_key(t: torch.Tensor) -> bytes:
    """What identifies one image (or code) regardless of its batch: its values (images quantized
    to 8 bits, so a reloaded PNG has the same key)."""
    t = t.detach().float().cpu()
    if t.dim() == 3 and t.shape[0] == 3 and float(t.min()) >= 0 and float(t.max()) <= 1:
        return (t * 255).round().to(torch.uint8).numpy().tobytes()
    return t.contiguous().numpy().tobytes()
