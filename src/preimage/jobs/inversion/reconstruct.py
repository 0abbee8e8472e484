"""Reconstruct images from a representation by a method.

:func:`reconstruct` owns the whole "reconstruct these images from this representation by this
method" job that ``preimage invert`` runs: which options go with which method, the image size a
trained inverter dictates, loading the inputs, running optimization / a trained inverter / both.
The :class:`Reconstruction` it returns is a result: its record, one PNG per image and sample, and
its lines; ``preimage.report.save`` writes them with the report's figures (``side_by_side.png``,
a per-pixel spread map per image when there are several samples).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ...errors import ConfigError
from ...images import encode_png, labels_for, load_image, to_grayscale
from ...learned.apply import decode, hybrid, resolve_inverter
from ...learned.inverter import Inverter
from ...optimize import invert
from ...optimize.inversion import InversionResult
from ...optimize.presets import get_preset
from ...representations.base import Representation
from ...results import Shown

METHODS = ("optimization", "learned", "hybrid")


@dataclass(repr=False)
class Reconstruction(Shown):
    """The outcome of :func:`reconstruct` (a :class:`~preimage.results.Result`)."""

    command = "invert"

    rep: Representation
    method: str
    sources: List[str]
    labels: List[str]
    result: InversionResult
    seconds: float
    seed: int
    layer: Optional[str] = None
    model: Optional[str] = None
    inverter: Optional[str] = None
    window: Optional[int] = None
    channels: Optional[Tuple[int, int]] = None
    metrics: Dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return self.result.samples

    def stem(self, i: int) -> str:
        tag = (self.layer or self.rep.name).replace("/", "_").replace(".", "_")
        return f"{i:02d}_{self.labels[i].replace('/', '_').replace(' ', '_')}_{tag}"

    def records(self) -> List[Dict]:
        """One record per image and sample: file names and the four errors."""
        out = []
        for i, src in enumerate(self.sources):
            for k in range(self.samples):
                out.append({"input": src, "output": f"{self.stem(i)}_s{k}.png", "sample": k,
                            "feature_error": float(self.result.feature_error[i, k]),
                            **{m: float(self.metrics[m][i, k]) for m in ("image_error", "psnr", "ssim")}})
                if self.result.stopped is not None:
                    out[-1]["iterations"] = int(self.result.stopped[i, k])
            if self.samples > 1:
                out[-1]["std"] = f"{self.stem(i)}_std.png"
        return out

    def to_json(self) -> Dict:
        r = self.result
        return {"model": self.model, "layer": self.layer, "representation": self.rep.name,
                "spec": self.rep.spec(), "method": self.method, "inverter": self.inverter, "preset": r.preset,
                "iters": r.iterations, "seconds": round(self.seconds, 3), "samples": self.samples,
                "seed": self.seed, "size": int(r.images.shape[-1]), "window": self.window,
                "channels": f"{self.channels[0]}:{self.channels[1]}" if self.channels else None,
                "objective": r.objective, "images": self.records(), "side_by_side": "side_by_side.png"}

    def files(self) -> Dict[str, bytes]:
        """One PNG per image and sample (the spread maps and ``side_by_side.png`` are the report's)."""
        return {f"{self.stem(i)}_s{k}.png": encode_png(self.result.images[i, k])
                for i in range(len(self.sources)) for k in range(self.samples)}

    def lines(self) -> List[str]:
        return [f"{r['input']:<24} sample {r['sample']}  feature_error {r['feature_error']:.4f}  "
                f"image_error {r['image_error']:.4f}  psnr {r['psnr']:.2f}  ssim {r['ssim']:.3f}"
                + (f"  iterations {r['iterations']}" if "iterations" in r else "")
                for r in self.records()]


def check_options(rep: Representation, method: str, inverter: Union[None, str, Inverter] = None,
                  samples: int = 1, window: Optional[int] = None, channels: Optional[Tuple[int, int]] = None,
                  converge: Optional[Tuple[int, float]] | bool = None) -> None:
    """Which options go with which method; a :class:`ConfigError` naming the conflict."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if inverter is not None and method == "optimization":
        raise ConfigError("--inverter goes with --method learned or hybrid")
    if method == "learned" and (samples > 1 or window or channels or converge is not None):
        raise ConfigError("--method learned decodes the whole code once; --samples, --window, --channels and "
                          "--converge are for optimization and hybrid")
    if method != "learned":
        rep.require_differentiable(f"--method {method}")


def reconstruct(rep: Representation, inputs: Union[Sequence[str], torch.Tensor], method: str = "optimization", *,
                inverter: Union[None, str, Inverter] = None, preset=None, iters: Optional[int] = None, samples: int = 1,
                window: Optional[int] = None, channels: Optional[Tuple[int, int]] = None, seed: int = 0,
                size: Optional[int] = None, labels: Optional[Sequence[str]] = None, layer: Optional[str] = None,
                model: Optional[str] = None, show: Optional[bool] = None,
                converge: Optional[Tuple[int, float]] | bool = None) -> Reconstruction:
    """Reconstruct ``inputs`` (image paths / ``sample:NAME``, or an (N, 3, H, W) tensor) from ``rep``.

    ``method``: ``optimization`` (``preset``, ``iters``, ``samples``, ``window``, ``channels``),
    ``learned`` (one pass of ``inverter``: a file, an :class:`~preimage.learned.Inverter`, or
    None for the bundled one), or ``hybrid`` (optimization started from the inverter's output).
    Images are loaded at the inverter's size for learned/hybrid, else at ``size`` or the
    representation's input size. ``converge``: each image's convergence test (see
    :func:`~preimage.optimize.invert`; None: the preset's, False: every iteration).
    """
    check_options(rep, method, inverter, samples, window, channels, converge)
    preset_obj = get_preset(preset or ("hybrid" if method == "hybrid" else "default"))
    inv = None
    if method != "optimization":
        inv = resolve_inverter(rep, inverter, size).to(rep.device)
        size = inv.image_size
    size = size or rep.input_size

    if isinstance(inputs, torch.Tensor):
        images = inputs.to(rep.device)
        sources = list(labels) if labels else [f"image{i}" for i in range(len(images))]
    else:
        sources = list(inputs)
        if not sources:
            raise ConfigError("no images given")
        images = torch.stack([load_image(s, size) for s in sources]).to(rep.device)
    if not rep.sees_color:
        images = to_grayscale(images)  # the code is the luma's: compare with the photo as the representation sees it
    t0 = time.time()
    if method == "optimization":
        res = invert(rep, images, preset=preset_obj, iters=iters, samples=samples, window=window,
                     channels=channels, seed=seed, show=show, converge=converge)
    elif method == "learned":
        assert inv is not None
        res = decode(rep, inv, images)
    else:
        assert inv is not None
        res = hybrid(rep, inv, images, preset=preset_obj, iters=iters, samples=samples, window=window,
                     channels=channels, seed=seed, show=show, converge=converge)
    seconds = time.time() - t0
    if not rep.sees_color:
        # color is left undetermined by a luma code: show the reconstruction's luma (its code is unchanged)
        res.images = to_grayscale(res.images)
        res.std = res.images.std(dim=1, unbiased=False) if res.samples > 1 else res.std
    return Reconstruction(rep, method, sources, list(labels) if labels else labels_for(sources), res, seconds, seed,
                          layer=layer, model=model, inverter=inv.path if inv else None, window=window,
                          channels=channels, metrics=res.image_metrics())
