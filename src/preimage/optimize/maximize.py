"""Natural pre-images beyond inversion (Mahendran & Vedaldi, IJCV 2016): activation maximization
and caricatures - the inversion energy with another data term, on the same presets, priors,
parameterization and loop.

* A *unit* is a channel at a position (default the center of the map), a channel's spatial mean,
  or one element of a vector code (an fc unit, a class logit). :class:`UnitActivation` is the
  objective (minus the unit's activation, divided by its normalizer), batched: image ``i`` of the
  batch maximizes unit ``units[i]``, so many units run in one forward and backward pass.
* The IJCV normalization: a unit's activation is divided by its largest value over a set of
  natural images (:func:`natural_maxima`), so 1 means "as strong as the strongest natural image";
  a unit no natural image activates has no such divisor (recorded as NaN, its value left raw).
* :class:`Caricature`: maximize ``<max(Phi(x0), 0) / ||Phi(x0)||^2, Phi(x)>`` starting at ``x0``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..errors import ConfigError
from ..keys import content_key, keyed
from ..representations.base import Representation
from .featurevis import CARICATURE_LR, check_param, restyle
from .loop import StopRule, rescale_stages
from .objectives import Context, Objective, Selection
from .presets import Preset, get_preset

MODES = ("center", "mean", "position")


def unit_values(f: torch.Tensor, units: torch.Tensor, mode: str = "center",
                position: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """(B,) activations of unit ``units[b]`` in code ``f[b]``: a vector element, or a channel at the
    center / at ``position`` / averaged over the map."""
    b = torch.arange(f.shape[0], device=f.device)
    if f.dim() == 2:
        return f[b, units]
    ch = f[b, units]                                  # (B, H, W)
    if mode == "mean":
        return ch.flatten(1).mean(1)
    y, x = position if position is not None else (f.shape[-2] // 2, f.shape[-1] // 2)
    return ch[:, y, x]


def at_place(f: torch.Tensor, mode: str, position: Optional[Tuple[int, int]]) -> torch.Tensor:
    """(B, C): every channel's value at the unit's place (or spatial mean; a vector code as it is)."""
    if f.dim() == 2:
        return f
    if mode == "mean":
        return f.flatten(2).mean(2)
    y, x = position if position is not None else (f.shape[-2] // 2, f.shape[-1] // 2)
    return f[:, :, y, x]


def unit_ranks(f: torch.Tensor, units: torch.Tensor, mode: str = "center",
               position: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """(B,) rank of ``units[b]`` among all channels (or vector elements) at the same place: 1 = strongest."""
    allv = at_place(f, mode, position)
    own = allv.gather(1, units.view(-1, 1))
    return (allv > own).sum(1) + 1


@torch.no_grad()
def natural_maxima(rep: Representation, images: torch.Tensor, mode: str = "center", batch: int = 64) -> torch.Tensor:
    """Per channel (or vector element), the largest activation over ``images``: over every position
    of the map for a channel at a position (a natural image may show the feature anywhere), of the
    spatial mean for ``mean``. (C,)"""
    best: Optional[torch.Tensor] = None
    for i in range(0, len(images), batch):
        f = rep(images[i:i + batch].to(rep.device))
        if f.dim() == 4:
            v = f.flatten(2).mean(2) if mode == "mean" else f.flatten(2).amax(2)
        else:
            v = f
        m = v.amax(0)
        best = m if best is None else torch.maximum(best, m)
    if best is None:
        raise ConfigError("no natural images to normalize on")
    return best


class UnitActivation(Objective):
    """``-a_b / s_b``: minus the activation of unit ``units[b]`` for image ``b``, divided by its
    normalizer ``scale[b]`` (1 when not normalized)."""

    def __init__(self, units: torch.Tensor, mode: str = "center", position: Optional[Tuple[int, int]] = None,
                 scale: Optional[torch.Tensor] = None, layer: Optional[str] = None, contrast: float = 0.0):
        if mode not in MODES:
            raise ConfigError(f"unknown unit mode {mode!r}; valid: {', '.join(MODES)}")
        self.units, self.mode, self.position, self.layer = units.long(), mode, position, layer
        self.scale = scale if scale is not None else torch.ones(len(units))
        self.contrast = float(contrast)
        name = f"-activation[{mode}]" + (f" + {contrast:g}*competitor" if contrast else "") + (f"@{layer}" if layer else "")
        super().__init__(self._value, name, {layer})

    def _value(self, ctx: Context) -> torch.Tensor:
        f = ctx.features(self.layer)
        u = self.units.to(f.device)
        a = unit_values(f, u, self.mode, self.position)
        e = -a
        if self.contrast:
            # how far the strongest other unit at the same place stands above this one (0 when it is on top)
            allv = at_place(f, self.mode, self.position)
            others = allv.scatter(1, u.view(-1, 1), float("-inf")).amax(1)
            e = e + self.contrast * (others - a).clamp_min(0)
        return e / self.scale.to(f.device)


class Caricature(Objective):
    """``-<Phi0+, Phi(x)>`` with ``Phi0+ = max(Phi(x0), 0) / ||Phi(x0)||^2`` (per image)."""

    def __init__(self, phi0: torch.Tensor, layer: Optional[str] = None):
        p = phi0.detach().clamp_min(0)
        self.weight = p / phi0.detach().flatten(1).pow(2).sum(1).clamp_min(1e-12).view(-1, *([1] * (phi0.dim() - 1)))
        self.layer = layer
        super().__init__(self._value, "-caricature" + (f"@{layer}" if layer else ""), {layer})

    def gain_numerator(self, f: torch.Tensor) -> torch.Tensor:
        return (self.weight.to(f.device) * f).flatten(1).sum(1)

    def _value(self, ctx: Context) -> torch.Tensor:
        return -self.gain_numerator(ctx.features(self.layer))


def gram_cosines(f: torch.Tensor, samples: int) -> torch.Tensor:
    """(U, S, S) cosine similarity of the Gram matrices of codes ``f`` (U * S, C, ...) within each
    group of ``samples`` consecutive images (one unit's samples; a vector code is a C x 1 map)."""
    x = f.flatten(2) if f.dim() > 2 else f.unsqueeze(-1)
    g = torch.bmm(x, x.transpose(1, 2)).flatten(1)                       # (B, C * C)
    g = g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = g.view(-1, samples, g.shape[1])
    return torch.bmm(g, g.transpose(1, 2))


def mean_pairwise(cos: torch.Tensor) -> torch.Tensor:
    """(U,) the mean of each (S, S) matrix's off-diagonal entries."""
    s = cos.shape[-1]
    off = ~torch.eye(s, dtype=torch.bool, device=cos.device)
    return cos[:, off].view(cos.shape[0], -1).mean(1)


class Diversity(Objective):
    """lucid's diversity term for ``samples`` visualizations of each unit (consecutive images of the
    batch): image ``i``'s energy is the mean cosine similarity of its Gram matrix (of ``layer``'s
    activations; default the unit's own layer) to those of the other samples of its unit. Minimized,
    it pushes the samples apart; it couples only the samples of one unit."""

    def __init__(self, samples: int, layer: Optional[str] = None):
        if samples < 2:
            raise ConfigError(f"diversity needs at least 2 samples per unit, got {samples}")
        self.samples, self.layer = int(samples), layer
        super().__init__(self._value, "diversity" + (f"@{layer}" if layer else ""), {layer})

    def _value(self, ctx: Context) -> torch.Tensor:
        cos = gram_cosines(ctx.features(self.layer), self.samples)      # (U, S, S)
        s = self.samples
        off = cos * (1 - torch.eye(s, device=cos.device, dtype=cos.dtype))
        return (off.sum(2) / (s - 1)).flatten()


@dataclass
class Maximization:
    """Images that maximize units: ``images`` (U, S, 3, H, W) for U units and S starts."""

    units: List[int]
    images: torch.Tensor
    activation: torch.Tensor              # (U, S) raw activation in the final image
    normalized: torch.Tensor              # (U, S) activation / normalizer
    rank: torch.Tensor                    # (U, S) 1 = strongest of its layer at that place
    normalizer: torch.Tensor              # (U,) the divisor of ``normalized``; NaN where there is none (see below)
    mode: str
    preset: str
    iterations: int
    seconds: float
    history: torch.Tensor = field(default_factory=lambda: torch.empty(0))
    # (U,) each unit's largest activation over the natural images (None: not normalized). A unit no
    # natural image activates (natural maximum <= 0) has no divisor: its ``normalized`` is the raw activation.
    natural_max: Optional[torch.Tensor] = None
    param: str = "pixel"                  # the parameterization: pixel, fourier or maco
    diversity: Optional[float] = None     # the diversity weight (None: not asked for)
    # (U,) mean pairwise cosine of the samples' Gram matrices (the unit's layer, final images); with ``diversity``
    similarity: Optional[torch.Tensor] = None
    views: int = 1                        # views of each image per step (MACO's several crops)

    @property
    def has_normalizer(self) -> torch.Tensor:
        """(U,) bool: whether the unit's ``normalized`` was divided by a natural maximum."""
        return ~torch.isnan(self.normalizer)


def _code_shape(rep: Representation, size: Tuple[int, int]) -> Tuple[int, ...]:
    return tuple(rep.output_shape(size))


def check_units(rep: Representation, units: Sequence[int], size: Tuple[int, int]) -> Tuple[int, ...]:
    """The code's shape at ``size`` (one forward pass); a :class:`ConfigError` naming any unit out of
    range."""
    shape = _code_shape(rep, size)
    n = shape[0]
    bad = [u for u in units if not 0 <= int(u) < n]
    if bad:
        raise ConfigError(f"unit(s) {', '.join(map(str, bad[:5]))} out of range: {rep.name} has {n} "
                          f"{'channels' if len(shape) == 3 else 'elements'} (valid: 0 to {n - 1})")
    if not units:
        raise ConfigError("no units chosen")
    return shape


def maximize(rep: Representation, units: Sequence[int], mode: str = "center", position: Optional[Tuple[int, int]] = None,
             samples: int = 1, preset: Union[str, Preset] = "default", iters: Optional[int] = None, seed: int = 0,
             normalizers: Optional[torch.Tensor] = None, size: Optional[int] = None,
             show: Optional[bool] = None, contrast: Optional[float] = None, param: Optional[str] = None,
             spectrum: Optional[torch.Tensor] = None, diversity: Optional[float] = None, views: int = 1) -> Maximization:
    """Synthesize, for every unit and each of ``samples`` starts, an image that maximizes it.

    All units and starts are one batch: one forward and backward pass per iteration. Each start is
    drawn from ``(seed, unit, sample)`` alone, so a unit's image does not depend on the others in
    the batch. ``normalizers``: (C,) per-unit maxima over natural images (see
    :func:`natural_maxima`); without them activations are not normalized. A unit whose natural
    maximum is not positive (no natural image activates it) is not normalized either: its
    ``normalizer`` is NaN and its ``normalized`` activation the raw one.

    ``param``: ``pixel`` (the preset's own recipe) or ``fourier`` / ``maco`` (the feature
    visualization recipe for the preset's iteration count, :func:`preimage.optimize.featurevis.restyle`;
    ``spectrum``: MACO's magnitude, default :func:`~preimage.optimize.featurevis.photo_spectrum`);
    None: the preset's ``maximize_param`` (``maco`` for ``default``, ``pixel`` for the papers'
    presets). Their starts and transform draws also come from ``(seed, unit, sample)`` alone.

    ``diversity`` W (needs ``samples`` > 1): adds W x :class:`Diversity` on the unit's layer, which
    couples the samples of a unit (never two units); the result then records each unit's mean
    pairwise Gram cosine (``similarity``; W = 0 measures it without the term).

    ``views`` V (``fourier`` / ``maco``): every step sees each image V times, each view through its own
    transform draws, and its energy is the views' mean (MACO's several crops per step): V times the
    arithmetic per step for a less noisy gradient.
    """
    rep.require_differentiable("activation maximization")
    preset_obj = get_preset(preset)
    param = check_param(param if param is not None else preset_obj.maximize_param)
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    check_diversity(diversity, samples)
    check_views(views, param, diversity)
    s = int(size or rep.input_size)
    hw = (s, s)
    shape = check_units(rep, units, hw)
    if len(shape) == 3 and position is not None:
        if not (0 <= position[0] < shape[1] and 0 <= position[1] < shape[2]):
            raise ConfigError(f"--position {position[0]},{position[1]} is outside the {shape[1]}x{shape[2]} map")
    if len(shape) != 3 and (mode != "center" or position is not None):
        raise ConfigError(f"{rep.name} is a vector code: units are its elements, no position or spatial mean")
    u = torch.tensor([int(v) for v in units for _ in range(samples)])
    natural = normalizers.detach().cpu().float()[u] if normalizers is not None else None
    # a unit is divided by its natural maximum only where some natural image activates it (> 0);
    # elsewhere (and without normalizers) by 1, and its normalizer is recorded as NaN: "none"
    scale = torch.where(natural > 0, natural, torch.ones_like(natural)) if natural is not None else torch.ones(len(u))
    divisor = (torch.where(natural > 0, natural, torch.full_like(natural, float("nan"))) if natural is not None
               else torch.full((len(u),), float("nan")))
    if contrast is None:
        contrast = float(getattr(preset_obj, "contrast", 0.0))  # the papers' presets: pure activation
    objective: Objective
    if views > 1:        # (check_views: never with diversity)
        per_view = UnitActivation(u.repeat_interleave(views), mode, position, scale.repeat_interleave(views),
                                  contrast=contrast)
        objective = Objective(lambda c: per_view(c).view(-1, views).mean(1), f"mean over {views} views of {per_view.name}",
                              per_view.layers)
    else:
        objective = UnitActivation(u, mode, position, scale, contrast=contrast)
        if diversity:
            objective = objective + float(diversity) * Diversity(samples)
    dummy = torch.zeros((len(u), *shape), device=rep.device)
    keys = [keyed(seed, "unit", int(v), k) for v in units for k in range(samples)]
    setup = preset_obj.setup(rep, dummy, Selection(), hw, torch.Generator().manual_seed(int(seed)),
                             data_term=objective, keys=keys)
    if param != "pixel":
        tkeys = ([keyed(seed, "unit", int(v), k, param, "transforms") for v in units for k in range(samples)]
                 if views == 1 else
                 [keyed(seed, "unit", int(v), k, param, "transforms", j) for v in units for k in range(samples)
                  for j in range(views)])
        setup = restyle(setup, param, hw, objective, [keyed(seed, "unit", int(v), k, param) for v in units for k in range(samples)],
                        tkeys, spectrum=spectrum, device=rep.device, views=views)
    stages = rescale_stages(setup.stages, iters) if iters is not None else setup.stages
    total = sum(st.iters for st in stages)
    stop = StopRule(total, desc=f"maximizing {len(units)} unit(s) of {rep.name} ({preset_obj.name})", show=show)
    t0 = time.perf_counter()
    res = setup.run(rep, stages, stop)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        f = rep(res.image)
        act = unit_values(f, u.to(f.device), mode, position).cpu()
        rank = unit_ranks(f, u.to(f.device), mode, position).cpu()
        similarity = mean_pairwise(gram_cosines(f, samples)).cpu() if diversity is not None else None
    n = len(units)
    return Maximization(list(map(int, units)), res.image.view(n, samples, *res.image.shape[1:]).cpu(),
                        act.view(n, samples), (act / scale).view(n, samples), rank.view(n, samples),
                        divisor.view(n, samples)[:, 0], mode, preset_obj.name, res.iterations, seconds,
                        res.history.view(res.iterations, n, samples),
                        natural.view(n, samples)[:, 0] if natural is not None else None, param,
                        None if diversity is None else float(diversity), similarity, views)


def check_views(views: int, param: str, diversity: Optional[float] = None) -> None:
    """``--views V``: at least 1; more than 1 only with ``--param fourier`` / ``maco`` (their transforms
    draw per view) and without ``--diversity`` (which compares a unit's samples, not its views)."""
    if not isinstance(views, int) or views < 1:
        raise ConfigError(f"--views must be an integer of at least 1, got {views}")
    if views > 1 and param == "pixel":
        raise ConfigError("--views is for --param fourier or maco (the pixel recipe has no per-view transforms)")
    if views > 1 and diversity is not None:
        raise ConfigError("--views and --diversity do not go together")


def check_diversity(diversity: Optional[float], samples: int) -> None:
    """``--diversity W``: a finite W >= 0, and only with ``--samples`` > 1 (it compares a unit's samples)."""
    if diversity is None:
        return
    if samples < 2:
        raise ConfigError(f"--diversity makes the samples of a unit differ: it needs --samples 2 or more (got {samples})")
    if not (diversity >= 0 and diversity < float("inf")):
        raise ConfigError(f"--diversity must be a finite number >= 0, got {diversity}")


@dataclass
class CaricatureResult:
    images: torch.Tensor                  # (N, 3, H, W)
    originals: torch.Tensor
    gain: torch.Tensor                    # (N,) <Phi0+, Phi(x)> / <Phi0+, Phi(x0)>
    preset: str
    iterations: int
    seconds: float
    param: str = "pixel"


def caricature(rep: Representation, images: torch.Tensor, preset: Union[str, Preset] = "default", iters: Optional[int] = None,
               seed: int = 0, show: Optional[bool] = None, param: str = "pixel",
               spectrum: Optional[torch.Tensor] = None) -> CaricatureResult:
    """Exaggerate what ``rep`` sees in ``images``: start at each photo and maximize its caricature
    objective under the preset's priors; the image stays in the preset's box (or ball).
    ``param`` ``fourier`` / ``maco``: start from the photo's own spectrum (``maco``: its phase, under
    the natural amplitude ``spectrum``, default the photos' for square images), Adam at
    :data:`~preimage.optimize.featurevis.CARICATURE_LR`, no transforms (they misalign the objective
    with the photo's code)."""
    rep.require_differentiable("caricaturization")
    check_param(param)
    x0 = images.to(rep.device)
    with torch.no_grad():
        phi0 = rep(x0)
    objective = Caricature(phi0)
    preset_obj = get_preset(preset)
    hw = (int(x0.shape[-2]), int(x0.shape[-1]))
    setup = preset_obj.setup(rep, phi0, Selection(), hw, torch.Generator().manual_seed(int(seed)), init=x0,
                             data_term=objective)
    if param != "pixel":
        tkeys = [keyed(seed, "caricature", param, content_key(im)) for im in x0]
        setup = restyle(setup, param, hw, objective, tkeys, tkeys, init=x0, spectrum=spectrum, device=rep.device,
                        robust=False, lr=CARICATURE_LR[param], lr_floor=1.0)   # measured at a constant step
    stages = rescale_stages(setup.stages, iters) if iters is not None else setup.stages
    stop = StopRule(sum(st.iters for st in stages), desc=f"caricature of {rep.name} ({preset_obj.name})", show=show)
    t0 = time.perf_counter()
    res = setup.run(rep, stages, stop)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        gain = objective.gain_numerator(rep(res.image)) / objective.gain_numerator(phi0).clamp_min(1e-12)
    return CaricatureResult(res.image.cpu(), x0.cpu(), gain.cpu(), preset_obj.name, res.iterations, seconds, param)


def summary(m: Maximization) -> Dict:
    return {"units": len(m.units), "normalized_min": float(m.normalized.min()),
            "rank1": int((m.rank == 1).sum()), "of": int(m.rank.numel())}
