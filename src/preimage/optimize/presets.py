"""Presets: complete recipes (parameterization, energy, optimizer, schedule, jitter).

* ``mv2015`` - Mahendran & Vedaldi, CVPR 2015 (the paper's settings).
* ``mv2016`` - Mahendran & Vedaldi, IJCV 2016 (the paper's settings).
* ``default`` - this project's setting, chosen by measurement (BENCHMARKS.md): Adam on [0, 1]
  pixels with the box constraint, a TV prior growing with depth, a cosine-decayed learning rate;
  inverting a network's code, a softened ReLU backward, a coarse-amplified gradient and an
  annealed TV weight (BENCHMARKS.md, "The default preset on three networks"). It reaches a lower
  feature error than both paper presets at every refnet layer in fewer iterations.
* ``classic`` - ``default`` without the inversion rule (plain Adam, constant TV, jitter).

The paper presets work in the papers' pixel units: ``u = 255 * (image - mean color)`` (0-255
pixels with the mean subtracted; our models carry a mean color, not a mean image). Every constant
below is the paper's; the energy is evaluated on ``u`` exactly as the papers write it, and the
image handed to the representation is ``mean + u / 255`` in [0, 1] units, which the representation
normalizes for its model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..errors import ConfigError
from ..representations.base import Representation
from .loop import OptimResult, Stage, StopRule, optimize
from .objectives import AlphaNorm, FeatureMatch, Objective, Selection, TotalVariation
from .optimizers import Adam, MomentumAdaGrad, MomentumSGD, Optimizer, PyramidAdam
from .param import Param, PixelParam
from .transforms import Jitter, jitter_amount

# CVPR 2015: average Euclidean norm of a mean-subtracted 227x227x3 image in 0-255 units.
MV2015_SIGMA_227 = 27098.1
MV2015_ALPHA, MV2015_LAMBDA_ALPHA = 6.0, 8e-10
# IJCV 2016
MV2016_B, MV2016_B_PLUS, MV2016_ALPHA, MV2016_BETA = 80.0, 160.0, 6.0, 2.0


@dataclass
class Setup:
    """Everything :func:`preimage.optimize.loop.optimize` needs for one run. ``jitter`` is the
    preset's own crop; ``extra_transforms`` run after it (``invert(..., transforms=[...])``)."""

    param: Param
    objective: Objective
    optimizer: Optimizer
    stages: List[Stage]
    jitter: Jitter
    reset_on_lr_change: bool = True
    extra_transforms: List = field(default_factory=list)
    #: ``(rule, slope)``: the ReLU backward rule while optimizing (None: plain gradients)
    relu: Optional[Tuple[str, float]] = None

    @property
    def transforms(self) -> List:
        return [self.jitter, *self.extra_transforms]

    def run(self, rep: Representation, stages: Sequence[Stage], stop: Optional[StopRule]) -> OptimResult:
        """:func:`~preimage.optimize.loop.optimize` with everything this setup holds (``stages``: its
        own, or rescaled to another length)."""
        return optimize(self.param, self.objective, self.optimizer, stages, rep=rep, transforms=self.transforms,
                        stop=stop, reset_on_lr_change=self.reset_on_lr_change, relu=self.relu)


def mv2015_sigma(shape: Sequence[int]) -> float:
    """sigma for an image of ``shape`` (C, H, W): 27098.1 at 3x227x227, scaled with sqrt(#pixels)."""
    n = 1
    for s in shape:
        n *= s
    return MV2015_SIGMA_227 * math.sqrt(n / (3 * 227 * 227))


def mv2015_lambda_tv(rep: Representation) -> float:
    """Per-layer TV weight of CVPR 2015: the representation's own hint (a CNN layer gives its band:
    1 for conv1 ... relu2, 10 for pool2 ... relu4, 100 for conv5 ... fc8), else 100."""
    v = rep.hints().mv2015_lambda_tv
    return 100.0 if v is None else float(v)


def _mean_color(rep: Representation, device) -> torch.Tensor:
    m = rep.mean_color()
    return m.to(device) if m is not None else torch.full((3,), 0.5, device=device)


class Preset:
    name = "preset"
    about = ""
    #: the parameterization activation maximization uses with this preset when ``--param`` is not
    #: given: the papers' presets keep their pixels
    maximize_param = "pixel"
    #: inversion's convergence test ``(window, rel_tol)`` (:class:`~preimage.optimize.loop.Converged`):
    #: each image ends on its own once converged; None: every iteration runs (the papers' presets)
    converge: Optional[Tuple[int, float]] = None

    def setup(self, rep: Representation, target: torch.Tensor, selection: Selection, size: Tuple[int, int],
              generator: torch.Generator, init: Optional[torch.Tensor] = None,
              data_term: Optional[Objective] = None, keys: Optional[Sequence[torch.Generator]] = None) -> Setup:
        """``target``: (N, ...) codes; ``size``: output (H, W); ``init``: optional (N, 3, H, W) start image.

        ``data_term``: another data term in place of matching ``target`` (activation maximization,
        caricatures: the same priors, parameterization and schedule; ``target`` then only gives the
        code's shape)."""
        raise NotImplementedError

    @staticmethod
    def _noise(shape, generator: torch.Generator, keys: Optional[Sequence[torch.Generator]], fn) -> torch.Tensor:
        """Random start values: per image from its own keyed generator (:func:`preimage.keys.keyed`)
        when ``keys`` are given, else from ``generator``."""
        if keys is None:
            return fn(shape, generator=generator)
        if len(keys) != shape[0]:
            raise ConfigError(f"{len(keys)} keys for {shape[0]} images")
        return torch.cat([fn((1, *shape[1:]), generator=g) for g in keys])

    @staticmethod
    def _init_shape(target, size, jitter):
        return (target.shape[0], 3, size[0] + jitter.pad, size[1] + jitter.pad)

    @staticmethod
    def _pad_init(init: torch.Tensor, jitter: Jitter) -> torch.Tensor:
        p = jitter.pad
        if p == 0:
            return init
        a = p // 2
        return torch.nn.functional.pad(init, (a, p - a, a, p - a), mode="replicate")


class MV2015(Preset):
    name = "mv2015"
    about = "CVPR 2015: sigma-scaled feature loss, alpha=6 and TV^2 priors, momentum SGD, 400 iterations, no jitter"

    def setup(self, rep: Representation, target: torch.Tensor, selection: Selection, size: Tuple[int, int],
              generator: torch.Generator, init: Optional[torch.Tensor] = None,
              data_term: Optional[Objective] = None, keys: Optional[Sequence[torch.Generator]] = None) -> Setup:
        if data_term is not None:
            raise ConfigError("mv2015 is the CVPR-2015 inversion preset; activation maximization and caricatures "
                              "use mv2016 or default")
        dev = target.device
        jitter = Jitter(1, generator)
        shape = self._init_shape(target, size, jitter)
        sigma = mv2015_sigma(shape[1:])
        mean = _mean_color(rep, dev)
        if init is None:
            noise = self._noise(shape, generator, keys, torch.randn).to(dev)
            u = noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * sigma
        else:
            u = (init - mean.view(1, 3, 1, 1)) * 255.0
        param = PixelParam(u, scale=255.0, offset=mean, constraint=None)
        lam_tv = mv2015_lambda_tv(rep)
        objective = (FeatureMatch(target, selection) * sigma ** 2
                     + TotalVariation(2.0, "sum") * (lam_tv / 2)
                     + AlphaNorm(MV2015_ALPHA, "sum") * (MV2015_LAMBDA_ALPHA / 2))
        stages = [Stage(100, 0.004), Stage(200, 0.0004), Stage(100, 0.00004)]
        return Setup(param, objective, MomentumSGD(0.004, 0.9), stages, jitter, reset_on_lr_change=True)


class MV2016(Preset):
    name = "mv2016"
    about = "IJCV 2016: C/||Phi0||^2 feature loss, N_alpha and TV^beta priors, B+ ball, momentum AdaGrad, jitter, 300+50 iterations"

    def __init__(self, C: Optional[float] = None):
        self.C = C

    def setup(self, rep: Representation, target: torch.Tensor, selection: Selection, size: Tuple[int, int],
              generator: torch.Generator, init: Optional[torch.Tensor] = None,
              data_term: Optional[Objective] = None, keys: Optional[Sequence[torch.Generator]] = None) -> Setup:
        dev = target.device
        hinted = rep.hints().mv2016_C
        C = float(self.C if self.C is not None else (1.0 if hinted is None else hinted))
        B, alpha = MV2016_B, MV2016_ALPHA
        jitter = Jitter(jitter_amount(int(rep.stride)), generator)
        shape = self._init_shape(target, size, jitter)
        mean = _mean_color(rep, dev)
        if init is None:
            noise = self._noise(shape, generator, keys, torch.rand).to(dev)
            p95 = torch.quantile(noise.abs().flatten(1), 0.95, dim=1).view(-1, 1, 1, 1)
            u = noise / p95 * (B / math.sqrt(3))
        else:
            u = self._pad_init((init - mean.view(1, 3, 1, 1)) * 255.0, jitter)
        param = PixelParam(u, scale=255.0, offset=mean, constraint=("ball", MV2016_B_PLUS))
        objective = ((data_term if data_term is not None else FeatureMatch(target, selection) * C)
                     + AlphaNorm(alpha, "pixel") * (1.0 / B) ** alpha
                     + TotalVariation(MV2016_BETA, "mean") * (6.5 / B) ** MV2016_BETA)
        lr = 0.05 * B ** 2 / alpha
        eta = size[0] * size[1] * lr
        stages = [Stage(300, eta, jitter=True), Stage(50, 0.1 * eta, jitter=False)]
        return Setup(param, objective, MomentumAdaGrad(eta), stages, jitter, reset_on_lr_change=False)


class Default(Preset):
    """This project's preset (chosen by measurement, see BENCHMARKS.md).

    Adam on [0, 1] pixels kept in the box, starting from gray plus a little noise; energy
    ``||Phi - Phi0||^2 / ||Phi0||^2 + w * TV^2_mean``, the learning rate cosine-decayed to 2% over
    the run. The TV weight ``w`` grows with depth: 0.1 for the CVPR-2015 band conv1 ... relu2, 0.3
    for pool2 ... relu4, 0.4 for conv5 ... pool5, 1 for vector (fc) codes; the learning rate is 0.1
    for the first band, 0.15 for the deeper spatial bands, 0.02 for vector codes (chosen on 16
    development images with refnet, ``benchmarks/bench_default_tuning.py``).

    Inverting a network's code adds the optimizer rule of BENCHMARKS.md, "The default preset on three
    networks" (chosen on refnet and cifar-resnet, then measured on cifar-vgg, which was not used to choose it;
    ``benchmarks/bench_deep_stage.py``, BENCHMARKS.md): every ReLU's backward pass is softened
    (``relu_rule("soft", 0.2)``: the temperature is a fifth of the ReLU input's own RMS, so the
    rule reads the network's scale), the gradient's coarse components are amplified
    (:class:`PyramidAdam`, 3 levels, x2 per level), Adam forgets faster (beta2 0.8), the TV weight
    is annealed geometrically from ``10 w`` to ``w / 4`` (a strong prior shapes the start, a weak
    one lets the code finish), and nothing is jittered (at 32 px jitter raised the feature and the
    image error of every pooled code measured). Deep codes need it: cifar-resnet's last stage went
    from 0.180 to under 0.1 in 300 iterations.

    Activation maximization and caricatures (a ``data_term``), the ``hybrid`` preset and the
    hand-crafted descriptors (whose hints say ``default_recipe="classic"``) keep the classic
    recipe: plain Adam, a constant TV weight and, for spatial codes, the first 60% of the
    iterations jittered (T from the layer's stride, as IJCV 2016) before an un-jittered finish.
    """

    name = "default"
    converge = (30, 1e-3)
    about = ("Adam on [0,1] pixels in a box, TV^2 prior and learning rate set by depth, cosine finish; "
             "for network codes a soft ReLU backward, pyramid gradient and annealed TV")

    #: TV weight and learning rate per CVPR-2015 band (1, 10, 100) for spatial codes; VECTOR_* for vectors
    TV = {1.0: 0.1, 10.0: 0.3, 100.0: 0.4}
    VECTOR_TV = 1.0
    LR = {1.0: 0.1, 10.0: 0.15, 100.0: 0.15}
    VECTOR_LR = 0.02
    #: classic recipe: share of the iterations that are jittered (spatial codes; vector codes: VECTOR_JITTER)
    JITTER = 0.6
    VECTOR_JITTER = 0.0
    #: inversion recipe (BENCHMARKS.md, "The default preset on three networks"): ReLU backward rule,
    #: pyramid (levels, weight per level), Adam's beta2, TV weight at the first and last iteration as multiples of ``w``, jittered share
    INVERT_RELU = ("soft", 0.2)
    INVERT_PYRAMID = (3, 2.0)
    INVERT_BETA2 = 0.8
    INVERT_TV = (10.0, 0.25)
    INVERT_JITTER = 0.0
    #: activation maximization: weight of the margin by which the strongest other unit at the same
    #: place exceeds the target (0 once the target is on top). Without it 5 of 64 refnet conv5
    #: channels ended second to fourth at their own center; 0.5 puts all 8 measured units on top at
    #: undiminished activation (BENCHMARKS.md, "Activation maximization")
    contrast = 0.5
    #: maximization's parameterization (``--param``'s default): MACO, the Fourier phase under the
    #: natural photos' amplitude, seen through random crops with noise (``featurevis.CROPS``, Adam
    #: 0.1). Against the other recipes on refnet's ten classes and first 64 conv5 channels (seed 0;
    #: BENCHMARKS.md, "Feature visualization"): spectrum slope -1.31 (photos -1.25 to -1.47; fourier
    #: -1.07, pixel -0.62), held-out recognition p 0.948 / 0.987 (fourier 0.946 / 0.949, pixel 0.92 /
    #: 0.84), plausibility 0.98 / 0.99 (fourier 0.98 / 0.98, pixel 0.99 / 0.96), MIS-style score on
    #: conv5 0.90 / 0.88 (fourier 0.89 / 0.84), 1.35 s per class unit (lucent 1.53 in the same run).
    #: Over 4 seeds: p 0.937 / 0.976 (pixel 0.944 / 0.920), plausibility 0.955 / 0.990 (pixel 0.990 / 0.970)
    maximize_param = "maco"

    def __init__(self, lr: Optional[float] = None, iters: int = 300, jitter_frac: Optional[float] = None,
                 tv: Optional[float] = None, noise: float = 0.05, recipe: str = "auto"):
        """``recipe``: ``auto`` (the inversion rule for network codes, classic otherwise) or ``classic``."""
        if recipe not in ("auto", "classic"):
            raise ConfigError(f"unknown recipe {recipe!r}; valid: auto, classic")
        self.lr, self.iters, self.jitter_frac, self.tv, self.noise = lr, iters, jitter_frac, tv, noise
        self.recipe = recipe

    def inverting(self, rep: Representation, data_term: Optional[Objective] = None) -> bool:
        """Whether a run uses the inversion rule: matching a code (no ``data_term``) of a
        representation that does not ask for the classic recipe, unless this preset does."""
        return (self.recipe == "auto" and data_term is None
                and getattr(rep.hints(), "default_recipe", None) != "classic")

    @staticmethod
    def _per_code(explicit: Optional[float], hint: str, vector: float, bands: Dict[float, float], rep: Representation,
                  target: torch.Tensor) -> float:
        """``explicit`` if set, else the representation's own ``hint`` attribute, else by kind of code:
        ``vector`` for vector codes, ``bands[CVPR-2015 band]`` for spatial ones."""
        if explicit is not None:
            return float(explicit)
        hinted = getattr(rep.hints(), hint)
        if hinted is not None:
            return float(hinted)
        return vector if target.dim() == 2 else bands[mv2015_lambda_tv(rep)]

    def tv_weight(self, rep: Representation, target: torch.Tensor) -> float:
        return self._per_code(self.tv, "default_tv", self.VECTOR_TV, self.TV, rep, target)

    def learning_rate(self, rep: Representation, target: torch.Tensor) -> float:
        return self._per_code(self.lr, "default_lr", self.VECTOR_LR, self.LR, rep, target)

    def jitter_share(self, rep: Representation, target: torch.Tensor, data_term: Optional[Objective] = None) -> float:
        if self.inverting(rep, data_term):
            return self._per_code(self.jitter_frac, "default_jitter_frac", self.INVERT_JITTER,
                                  dict.fromkeys(self.TV, self.INVERT_JITTER), rep, target)
        return self._per_code(self.jitter_frac, "default_jitter_frac", self.VECTOR_JITTER,
                              dict.fromkeys(self.TV, self.JITTER), rep, target)

    def setup(self, rep: Representation, target: torch.Tensor, selection: Selection, size: Tuple[int, int],
              generator: torch.Generator, init: Optional[torch.Tensor] = None,
              data_term: Optional[Objective] = None, keys: Optional[Sequence[torch.Generator]] = None) -> Setup:
        dev = target.device
        inverting = self.inverting(rep, data_term)
        frac = self.jitter_share(rep, target, data_term)
        jitter = Jitter(jitter_amount(int(rep.stride)) if frac > 0 else 1, generator)
        shape = self._init_shape(target, size, jitter)
        if init is None:
            u = 0.5 + self.noise * self._noise(shape, generator, keys, torch.randn).to(dev)
        else:
            u = self._pad_init(init, jitter)
        param = PixelParam(u, scale=1.0, offset=0.0, constraint="box")
        data = data_term if data_term is not None else FeatureMatch(target, selection)
        w = self.tv_weight(rep, target)
        tv = TotalVariation(2.0, "mean")
        lr = self.learning_rate(rep, target)
        n_j = int(round(self.iters * frac)) if jitter.pad else 0
        stages = [Stage(n_j, lr, jitter=True)] if n_j else []
        stages.append(Stage(self.iters - n_j, lr, jitter=False, decay=0.02))
        if not inverting:
            return Setup(param, data + tv * w, Adam(lr), stages, jitter, reset_on_lr_change=False)
        a, b = self.INVERT_TV
        levels, per_level = self.INVERT_PYRAMID
        optimizer = PyramidAdam(lr, betas=(0.9, self.INVERT_BETA2), levels=levels, weight=per_level)
        objective = data + tv.annealed(a * w, b * w) if w > 0 else data
        return Setup(param, objective, optimizer, stages, jitter, reset_on_lr_change=False,
                     relu=self.INVERT_RELU)


class Hybrid(Default):
    """The default preset with a gentler learning rate (0.02), for optimization that starts from a
    trained inverter's reconstruction (``--method hybrid``): the start is already close, and a
    large first step would throw it away. Chosen by measurement (BENCHMARKS.md, trained inverters).
    """

    name = "hybrid"
    about = "the default preset at learning rate 0.02, for starts from a trained inverter"

    def __init__(self, lr: float = 0.02, recipe: str = "classic", **kw):
        super().__init__(lr=lr, recipe=recipe, **kw)


class Classic(Default):
    """The default preset's classic recipe for every code: plain Adam, a constant TV weight and, for
    spatial codes, jitter for the first 60% of the iterations (the default preset before its
    inversion rule; what maximization and the descriptors use)."""

    name = "classic"
    about = "the default preset without the inversion rule: plain Adam, constant TV, jitter then a cosine finish"

    def __init__(self, recipe: str = "classic", **kw):
        super().__init__(recipe=recipe, **kw)


PRESETS: Dict[str, Callable[[], Preset]] = {"default": Default, "classic": Classic, "mv2015": MV2015,
                                            "mv2016": MV2016, "hybrid": Hybrid}


def get_preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    return PRESETS[name]()
