"""What a reconstruction gives away, per image: matched to its true image first, then scored.

* :func:`match` - a batch's reconstructions come in no particular order: each is paired with one
  true image by the assignment that maximizes the total similarity (minus the mean squared error,
  so the pairing PSNR rewards), solved exactly by ``scipy.optimize.linear_sum_assignment``.
* :func:`label_hits` - how many of the batch's labels the attacker recovered (as multisets: order
  and pairing do not matter).
* :class:`Reidentify` - re-identification among the ``N`` private images, as ``preimage leakage``
  counts it: the correlation of pixel values (each image's mean removed, cosine similarity) of the
  reconstruction with every private image; the true image's rank, ties counted at their expected
  rate (a flat gray image ties with all ``N`` and scores exactly ``k / N`` at top-``k``).
  Re-implemented here (jobs do not import one another); small: ``N`` attacked images stay in memory.
"""

from __future__ import annotations

from collections import Counter
from typing import Dict, List, Sequence

import torch

from ... import metrics


def match(recs: torch.Tensor, truth: torch.Tensor) -> List[int]:
    """``order`` such that ``recs[order[i]]`` is the reconstruction paired with ``truth[i]``."""
    d = (recs.detach().double().flatten(1)[None, :, :] - truth.detach().double().flatten(1)[:, None, :]).pow(2).mean(2)
    from scipy.optimize import linear_sum_assignment  # deferred: scipy.optimize takes 0.3 s to import

    rows, cols = linear_sum_assignment(d.cpu().numpy())
    order = [0] * len(truth)
    for r, c in zip(rows, cols):
        order[int(r)] = int(c)
    return order


def label_hits(recovered: Sequence[int], true: Sequence[int]) -> int:
    """The size of the multiset intersection of the recovered and the true labels."""
    return sum((Counter(int(v) for v in recovered) & Counter(int(v) for v in true)).values())


def _unit(x: torch.Tensor) -> torch.Tensor:
    f = x.detach().double().flatten(1)
    f = f - f.mean(1, keepdim=True)
    n = f.norm(dim=1, keepdim=True)
    return torch.where(n > 1e-12, f / n.clamp_min(1e-12), torch.zeros_like(f))


class Reidentify:
    """The private images against which reconstructions are re-identified."""

    def __init__(self, originals: torch.Tensor, ks: Sequence[int] = (1, 5)):
        self.units = _unit(originals)
        self.ks = tuple(ks)

    def __call__(self, recs: torch.Tensor, index: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``recs[j]`` reconstructs private image ``index[j]``: its expected rank (1 = first), the
        top-k hit rates, and the most similar private image."""
        sim = _unit(recs) @ self.units.T                       # (b, N)
        true = sim[torch.arange(len(index)), index]
        own = torch.zeros_like(sim, dtype=torch.bool)
        own[torch.arange(len(index)), index] = True
        greater = ((sim > true[:, None]) & ~own).sum(1).double()
        tied = 1 + ((sim == true[:, None]) & ~own).sum(1).double()
        out = {"rank": greater + (tied + 1) / 2, "guess": sim.argmax(1)}
        for k in self.ks:
            out[f"top{k}"] = ((k - greater) / tied).clamp(0, 1)
        return out


def scores(recs: torch.Tensor, truth: torch.Tensor) -> Dict[str, torch.Tensor]:
    """PSNR (dB) and SSIM per image."""
    return {"psnr": metrics.psnr(recs, truth), "ssim": metrics.ssim(recs, truth)}
