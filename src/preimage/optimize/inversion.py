"""Inversion: find images whose code matches a target code (Mahendran & Vedaldi)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch

from .. import metrics
from ..errors import ConfigError, ImageError
from ..keys import content_key, keyed
from ..representations.base import Representation
from .loop import Converged, StopRule, rescale_stages
from .objectives import Objective, Selection
from .optimizers import as_optimizer
from .presets import Preset, get_preset


@dataclass
class InversionResult:
    """Reconstructions of N codes, K samples (random starts) each.

    Attributes:
        images: (N, K, 3, H, W) reconstructions in [0, 1].
        std: (N, 3, H, W) per-pixel standard deviation across the K samples (zeros if K = 1):
            where it is large, the code leaves the image undetermined.
        feature_error: (N, K) ``sqrt(||S(Phi(x)) - S(Phi0)||^2 / ||S(Phi0)||^2)`` on the matched
            selection S (the whole code unless a window or channels were chosen).
        history: (iterations, N, K) energy per image and sample.
        originals: (N, 3, H, W) the inputs, if the codes came from images.
    """

    images: torch.Tensor
    std: torch.Tensor
    feature_error: torch.Tensor
    history: torch.Tensor
    seconds: float
    iterations: int
    preset: str
    objective: str
    selection: Selection
    originals: Optional[torch.Tensor] = None
    terms: Dict[str, torch.Tensor] = field(default_factory=dict)
    #: (N, K) iterations each reconstruction ran (its own convergence test), or None without one
    stopped: Optional[torch.Tensor] = None

    @property
    def samples(self) -> int:
        return self.images.shape[1]

    def image_metrics(self) -> Dict[str, torch.Tensor]:
        """image_error, psnr and ssim against the originals, each (N, K)."""
        if self.originals is None:
            raise ConfigError("no originals: the codes were given directly")
        n, k = self.images.shape[:2]
        rec = self.images.flatten(0, 1)
        ref = self.originals.repeat_interleave(k, dim=0)
        return {"image_error": metrics.image_error(rec, ref).view(n, k),
                "psnr": metrics.psnr(rec, ref).view(n, k),
                "ssim": metrics.ssim(rec, ref).view(n, k)}


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1] != 3:
        raise ImageError(f"expected images of shape (N, 3, H, W), got {tuple(images.shape)}")
    if not torch.isfinite(images).all():
        raise ImageError("images contain non-finite values")
    return images


def invert(rep: Representation, images: Optional[torch.Tensor] = None, target: Optional[torch.Tensor] = None,
           preset: str | Preset = "default", iters: Optional[int] = None, samples: int = 1,
           window: Optional[int] = None, channels: Optional[Tuple[int, int]] = None,
           size: Optional[Tuple[int, int]] = None, seed: int = 0, init: Optional[torch.Tensor] = None,
           show: Optional[bool] = None, optimizer=None, transforms=None,
           objective: Optional[Objective] = None,
           converge: Optional[Tuple[int, float]] | bool = None) -> InversionResult:
    """Reconstruct images from the code ``Phi0 = rep(images)`` (or a given ``target``).

    Args:
        rep: a differentiable :class:`~preimage.representations.Representation`.
        images: (N, 3, H, W) in [0, 1]; their codes are the targets.
        target: (N, ...) codes, instead of ``images`` (then ``size`` gives the output size).
        preset: ``default``, ``mv2015``, ``mv2016`` or a :class:`Preset`.
        iters: total iterations (the preset's schedule is stretched to fit); default the preset's.
        samples: K reconstructions per code from different random starts.
        window / channels: match only a centered window x window of the feature map / channels A:B.
        seed: same seed, same device -> same result.
        init: optional (N, 3, H, W) start images (one sample per code).
        optimizer: replaces the preset's: any ``torch.optim`` class (or factory), on the preset's
            learning-rate schedule.
        transforms: more transforms after the preset's jitter (e.g. ``[RandomFlip()]``).
        objective: the whole energy instead of the preset's (``FeatureMatch(t3, layer="conv3") +
            FeatureMatch(t5) + 0.3 * TotalVariation(2.0, "mean")``); the preset still gives the
            parameterization (its priors read ``ctx.pixels`` in the preset's pixel units: [0, 1] for
            ``default``), start, optimizer, schedule, jitter and ReLU rule. Its targets are one code per
            image, so ``samples`` must be 1. ``feature_error`` still compares ``rep``'s own code.
        converge: ``(window, rel_tol)``: each reconstruction ends on its own when its energy has
            converged (:class:`~preimage.optimize.loop.Converged`, tested after the jittered
            iterations), ``iters`` being the cap; ``None`` or ``True``: the preset's test (none for
            mv2015 / mv2016); ``False``: every iteration runs. ``stopped`` then records each
            reconstruction's iterations.
    """
    rep.require_differentiable("optimization inversion")
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if objective is not None and samples != 1:
        raise ConfigError("an objective holds one target per image: use samples=1 with objective=")
    originals = None
    if images is not None:
        originals = _check_images(images)
        dev = next(iter(list(rep.parameters()) + list(rep.buffers())), originals).device
        originals = originals.to(dev)
        with torch.no_grad():
            target = rep(originals)
        size = (int(originals.shape[-2]), int(originals.shape[-1]))
    elif target is None or size is None:
        raise ConfigError("invert needs images, or a target code and an output size")
    if not torch.isfinite(target).all():
        raise ConfigError("the target code contains non-finite values")
    selection = Selection(window, channels)
    selection.validate(tuple(target.shape[1:]))
    preset_obj = get_preset(preset)
    n = target.shape[0]
    target_k = target.detach().repeat_interleave(samples, dim=0)
    if init is not None:
        init = _check_images(init).to(target.device).repeat_interleave(samples, dim=0)
    gen = torch.Generator().manual_seed(int(seed))
    assert size is not None
    # each start from the seed and its own image (or code) and sample number: independent of the batch
    sources = originals if originals is not None else selection(target)  # a code: the part that is matched
    keys = [keyed(seed, content_key(sources[i]), k) for i in range(n) for k in range(samples)]
    setup = preset_obj.setup(rep, target_k, selection, size, gen, init=init, keys=keys)
    if objective is not None:
        setup.objective = objective
    if optimizer is not None:
        setup.optimizer = as_optimizer(optimizer, setup.stages[0].lr)
    if transforms:
        setup.extra_transforms = list(transforms)
    stages = rescale_stages(setup.stages, iters) if iters is not None else setup.stages
    total = sum(s.iters for s in stages)
    desc = f"inverting {getattr(rep, 'name', 'code')} ({preset_obj.name})"
    test = preset_obj.converge if converge is None or converge is True else converge
    if test:
        test_window, test_tol = test
        stop: StopRule = Converged(total, test_window, test_tol, after=sum(s.iters for s in stages if s.jitter),
                                   desc=desc, show=show)
    else:
        stop = StopRule(total, desc=desc, show=show)
    res = setup.run(rep, stages, stop)
    with torch.no_grad():
        phi = rep(res.image)
        ferr = metrics.feature_error(selection(phi), selection(target_k))
    imgs = res.image.view(n, samples, *res.image.shape[1:])
    std = imgs.std(dim=1, unbiased=False) if samples > 1 else torch.zeros_like(imgs[:, 0])
    return InversionResult(
        images=imgs, std=std, feature_error=ferr.view(n, samples),
        history=res.history.view(res.iterations, n, samples), seconds=res.seconds,
        iterations=res.iterations, preset=preset_obj.name, objective=setup.objective.name,
        selection=selection, originals=originals,
        terms={k: v.view(n, samples) for k, v in res.terms.items()},
        stopped=None if res.stopped is None else res.stopped.view(n, samples))
