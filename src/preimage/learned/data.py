"""Small helpers of the trained-inverter code; the images themselves come from :mod:`preimage.data`
(training crops drawn per ``(seed, rank, step)`` and decoded in worker processes)."""

from __future__ import annotations

import torch


def in_batches(fn, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks of ``batch`` along the first dimension, concatenated."""
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])
