"""Feature-space studies with a trained inverter (Dosovitskiy & Brox, CVPR 2016, section 5).

* :func:`binarize`: keep only which units are active. Each code's active units (> 0) are set to the
  mean of its active values and the others to the mean of its inactive values (0 for a code taken
  after a ReLU), so the code keeps one bit per unit and two numbers.
* :func:`dropout`: zero a random fraction ``p`` of the units and scale the rest by ``1 / (1 - p)``
  (the expectation is kept, as dropout does at training time); drawn per image.
* :func:`perturb`: decode clean, binarized and dropped-out codes; the errors say what survives.
* :func:`interpolate`: decode a straight line between two images' codes.
* :func:`sample_codes` / :func:`sample`: draw every dimension independently from its empirical
  distribution over a set of codes, and decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from .. import metrics
from ..data import Stream, folder_images, list_items
from ..errors import ConfigError
from ..images import load_image
from ..keys import keyed
from ..learned.data import in_batches
from ..learned.inverter import Inverter
from ..representations.base import Representation
from ..results import Shown


def binarize(f: torch.Tensor) -> torch.Tensor:
    """(N, ...) codes -> the same shape, two values per code: the mean active and mean inactive value."""
    flat = f.flatten(1)
    active = flat > 0
    n_on = active.sum(1, keepdim=True)
    n_off = flat.shape[1] - n_on
    on = torch.where(active, flat, torch.zeros_like(flat)).sum(1, keepdim=True) / n_on.clamp_min(1)
    off = torch.where(active, torch.zeros_like(flat), flat).sum(1, keepdim=True) / n_off.clamp_min(1)
    return torch.where(active, on, off).view_as(f)


def dropout(f: torch.Tensor, p: float = 0.5, generator: Optional[torch.Generator] = None,
            index: Optional[torch.Tensor] = None, seed: int = 0) -> torch.Tensor:
    """Zero each unit with probability ``p``; scale the survivors by ``1 / (1 - p)``. With ``index``
    (the images' positions in their set), each image's units are drawn from its own generator
    ``(seed, index)``, so a code's dropout does not depend on its batch."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout fraction must be in [0, 1), got {p}")
    if index is not None:
        keep = torch.stack([torch.rand(f.shape[1:], generator=keyed(seed, "dropout", int(i))) for i in index]) >= p
    else:
        keep = torch.rand(f.shape, generator=generator) >= p
    return f * keep.to(f.dtype) / (1.0 - p)


MODES = ("clean", "binarized", "dropout", "mean code", "other image")


@torch.no_grad()
def perturb_codes(f: torch.Tensor, index: torch.Tensor, mean: torch.Tensor, previous: torch.Tensor, p: float = 0.5,
                  seed: int = 0) -> Dict[str, torch.Tensor]:
    """The codes :func:`perturb` decodes for a batch ``f`` of codes at positions ``index`` of their
    set: ``mean`` is the set's mean code, ``previous`` the code before the batch's first (the set's
    last, for its first image)."""
    return {"clean": f, "binarized": binarize(f), "dropout": dropout(f, p, index=index, seed=seed),
            "mean code": mean.expand_as(f).contiguous(), "other image": torch.cat([previous[None], f[:-1]])}


@torch.no_grad()
def perturb(rep: Representation, inverter: Inverter, images: torch.Tensor, p: float = 0.5, seed: int = 0) -> Dict:
    """Decode each image's code as it is, binarized, and with a fraction ``p`` dropped.

    Returns ``{"codes": {mode: codes}, "images": {mode: (N, 3, S, S)}, "image_error": {mode: (N,)},
    "feature_error": {mode: (N,)}}`` for the modes ``clean``, ``binarized``, ``dropout`` and two
    references that carry no information about the image: ``mean code`` (the set's mean code) and
    ``other image`` (the previous image's code, the last image's for the first); ``feature_error``
    compares each code with the clean one.
    """
    f = rep(images)
    codes = perturb_codes(f, torch.arange(len(f)), f.mean(0), f[-1], p, seed)
    out: Dict = {"codes": codes, "images": {}, "image_error": {}, "feature_error": {}}
    for mode, c in codes.items():
        rec = inverter(c)
        out["images"][mode] = rec
        out["image_error"][mode] = metrics.image_error(rec, images)
        out["feature_error"][mode] = metrics.feature_error(c, f)
    return out


@torch.no_grad()
def interpolate(rep: Representation, inverter: Inverter, a: torch.Tensor, b: torch.Tensor, steps: int = 8):
    """Decode ``(1 - t) Phi(a) + t Phi(b)`` for ``steps`` values of t from 0 to 1.

    ``a``, ``b``: (3, S, S) images. Returns (t values (steps,), images (steps, 3, S, S)).
    """
    if steps < 2:
        raise ValueError(f"interpolation needs at least 2 steps, got {steps}")
    fa, fb = rep(a[None]), rep(b[None])
    t = torch.linspace(0, 1, steps)
    codes = torch.cat([(1 - ti) * fa + ti * fb for ti in t])
    return t, inverter(codes)


def sample_codes(codes: torch.Tensor, n: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``n`` codes whose every dimension is drawn independently from that dimension's values in
    ``codes`` (M, ...): the product of the empirical marginals."""
    flat = codes.flatten(1)
    idx = torch.randint(flat.shape[0], (n, flat.shape[1]), generator=generator)
    return flat.gather(0, idx).view(n, *codes.shape[1:])


@torch.no_grad()
def sample(rep: Representation, inverter: Inverter, images: torch.Tensor, n: int = 8, seed: int = 0, batch: int = 256):
    """Decode ``n`` codes drawn from the marginals of ``images``' codes. Returns (codes, images)."""
    codes = in_batches(rep, images, batch)
    s = sample_codes(codes, n, torch.Generator().manual_seed(int(seed)))
    return s, inverter(s)


# ---------------------------------------------------------------- the studies as saved results
@dataclass(repr=False)
class Study(Shown):
    """A study's record and the images of its figure (a :class:`~preimage.results.Result` recorded as
    ``NAME.json``; the report draws ``NAME.png`` from ``rows`` and ``columns``)."""

    name: str
    rows: List[List[torch.Tensor]]
    columns: Sequence[str]
    record: Dict
    summary: List[str] = field(default_factory=list)

    @property
    def command(self) -> str:
        return self.name

    @property
    def record_name(self) -> str:
        return f"{self.name}.json"

    def to_json(self) -> Dict:
        return self.record

    def files(self) -> Dict[str, bytes]:
        return {}

    def lines(self) -> List[str]:
        return self.summary


def perturb_study(rep: Representation, inv: Inverter, data: str, n: int = 100, drop: float = 0.5, seed: int = 0, show: int = 8,
                  workers: int = 0, batch: int = 250) -> Study:
    """:func:`perturb` over ``n`` images of a folder or shards, streamed in two passes (the set's
    mean code and last code first, then each batch decoded and reduced), so memory does not grow
    with ``n``; the first ``show`` images are kept for the figure."""
    if not 0.0 <= drop < 1.0:
        raise ConfigError(f"--drop must be in [0, 1), got {drop}")
    items = list_items(data).evenly_spaced(n)
    stream = Stream(items, inv.image_size, batch, workers, show=False)
    total: Optional[torch.Tensor] = None
    last: Optional[torch.Tensor] = None
    with torch.no_grad():
        for _, x in stream:  # pass 1: the set's mean code and its last code
            f = rep(x)
            total = f.sum(0) if total is None else total + f.sum(0)
            last = f[-1]
    assert total is not None and last is not None
    mean, previous = total / len(items), last
    errs = {m: torch.zeros(len(items)) for m in MODES}
    change = {m: torch.zeros(len(items)) for m in MODES}
    rows: List[list] = []
    with torch.no_grad():
        for idx, x in stream:
            f = rep(x)
            codes = perturb_codes(f, idx, mean, previous, drop, seed)
            previous = f[-1]
            decoded = {}
            for m, c in codes.items():
                decoded[m] = inv(c)
                errs[m][idx] = metrics.image_error(decoded[m], x)
                change[m][idx] = metrics.feature_error(c, f)
            for j in range(min(len(idx), show - len(rows))):
                rows.append([x[j]] + [decoded[m][j] for m in MODES])
    cols = ["original", "decoded", "binarized code", f"{int(100 * drop)}% dropped", "mean code", "previous image's code"]
    record: Dict[str, Any] = {
        "representation": rep.name, "inverter": inv.path, "data": data, "n": len(items), "size": inv.image_size,
        "drop": drop, "seed": seed, "binarize": "active units -> mean active value, others -> mean inactive value",
        "modes": {m: {"image_error_mean": float(errs[m].mean()),
                      "image_error_std": float(errs[m].std()) if len(items) > 1 else 0.0,
                      "code_change_mean": float(change[m].mean()),
                      "image_error": [round(float(v), 5) for v in errs[m]]} for m in MODES},
        "files": list(items.names)}
    lines = [f"{'code':<12} {'image_error':>11} {'code change':>11}"]
    lines += [f"{m:<12} {record['modes'][m]['image_error_mean']:>11.4f} {record['modes'][m]['code_change_mean']:>11.4f}"
              for m in MODES]
    return Study("perturb", rows, cols, record, lines)


def interpolate_study(rep: Representation, inv: Inverter, a: str, b: str, steps: int = 8) -> Study:
    if steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {steps}")
    size = inv.image_size
    xa, xb = load_image(a, size), load_image(b, size)
    t, imgs = interpolate(rep, inv, xa, xb, steps)
    row = [xa] + list(imgs) + [xb]
    cols = ["A"] + [f"t={float(v):.2f}" for v in t] + ["B"]
    record = {"representation": rep.name, "inverter": inv.path, "a": a, "b": b, "size": size, "t": t.tolist(),
              "rms_change_between_steps": [float((imgs[i + 1] - imgs[i]).pow(2).mean().sqrt())
                                           for i in range(len(imgs) - 1)],
              "image_error_at_a": float(metrics.image_error(imgs[:1], xa[None])[0]),
              "image_error_at_b": float(metrics.image_error(imgs[-1:], xb[None])[0])}
    return Study("interpolate", [row], cols, record)


def sample_study(rep: Representation, inv: Inverter, data: str, n_codes: int = 1000, samples: int = 8, seed: int = 0,
                 workers: int = 0) -> Study:
    files, x = folder_images(data, n_codes, inv.image_size, workers)
    codes, imgs = sample(rep, inv, x, samples, seed)
    record = {"representation": rep.name, "inverter": inv.path, "data": data, "n_codes": len(files),
              "size": inv.image_size, "samples": samples, "seed": seed,
              "mean_sample_std": float(imgs.flatten(1).std(1).mean()),
              "mean_data_std": float(x.flatten(1).std(1).mean()),
              "code_norms": [float(v) for v in codes.flatten(1).norm(dim=1)]}
    return Study("sample", [list(imgs)], [f"sample {k}" for k in range(samples)], record)
