"""The energy minimizer: objectives, priors, parameterizations, jitter, optimizers, the loop, presets."""

from .inversion import InversionResult, invert
from .loop import OptimResult, Plateau, Stage, StopRule, optimize, rescale_stages
from .objectives import AlphaNorm, Context, FeatureMatch, Objective, Prior, Selection, TotalVariation
from .optimizers import Adam, MomentumAdaGrad, MomentumSGD, Optimizer, PyramidAdam, TorchOptimizer, as_optimizer
from .param import FourierParam, MacoParam, PixelParam
from .presets import PRESETS, Preset, get_preset
from .transforms import Jitter, RandomFlip, Transform, jitter_amount

__all__ = ["invert", "InversionResult", "optimize", "OptimResult", "Stage", "StopRule", "Plateau",
           "rescale_stages", "Objective", "Context", "FeatureMatch", "Prior", "AlphaNorm", "TotalVariation",
           "Selection", "MomentumSGD", "Adam", "PyramidAdam", "MomentumAdaGrad", "PixelParam", "FourierParam", "MacoParam",
           "PRESETS", "Preset",
           "get_preset", "Jitter", "jitter_amount", "RandomFlip", "Transform", "Optimizer", "TorchOptimizer",
           "as_optimizer"]
