"""The representation contract: ``Phi`` maps [0, 1] images (N, 3, H, W) to features.

A representation owns its input normalization, says whether it is differentiable, what stride its
output has relative to the input (for jitter), the smallest input it accepts, and its name.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import ImageError, LayerError, NotDifferentiableError
from ..hooks import device_of


@dataclass(frozen=True)
class Hints:
    """What a representation tells the presets about itself (``None``: let the preset decide).

    ``default_tv`` / ``default_lr`` / ``default_jitter_frac``: the default preset's TV weight,
    learning rate and share of jittered iterations; ``default_recipe``: ``"classic"`` keeps the
    default preset's classic recipe when inverting (no ReLU rule, pyramid or TV annealing);
    ``mv2015_lambda_tv``: the CVPR-2015 TV weight
    (its per-layer band, 1 / 10 / 100); ``mv2016_C``: the IJCV-2016 fidelity constant C.
    """

    default_tv: Optional[float] = None
    default_lr: Optional[float] = None
    default_jitter_frac: Optional[float] = None
    default_recipe: Optional[str] = None
    mv2015_lambda_tv: Optional[float] = None
    mv2016_C: Optional[float] = None


def spec_key(spec: Dict[str, Any]) -> str:
    """A canonical text for a :meth:`Representation.spec` (equal specs, equal keys)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


class Representation(nn.Module):
    """Base class and the typed contract every representation keeps.

    Subclasses implement :meth:`features` on checked input, :attr:`stride`, and :meth:`spec`, which
    lists every option that changes the code: two representations with equal specs (and, for a
    network, equal weights) compute the same function. The spec is the identity wherever one is
    compared (trained-inverter files, bundled-inverter lookup, caches).
    """

    #: a short human-readable name, e.g. ``refnet/conv3`` or ``hog``
    name: str = "representation"
    #: whether gradients with respect to the input are meaningful
    differentiable: bool = True
    #: smallest accepted input side, in pixels
    min_size: int = 1
    #: the input size commands use by default
    input_size: int = 224
    #: whether the code depends on color (False: luma only - reconstruct and show gray images)
    sees_color: bool = True

    @property
    def stride(self) -> int:
        """Input pixels per output position (the whole input for a vector output)."""
        raise NotImplementedError

    def output_shape(self, size: int | Tuple[int, int]) -> Tuple[int, ...]:
        """Feature shape (without the batch dimension) for a ``size`` x ``size`` input."""
        hw = (size, size) if isinstance(size, int) else tuple(size)
        with torch.no_grad():
            return tuple(self(torch.full((1, 3, *hw), 0.5, device=self.device)).shape[1:])

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise ImageError(f"{self.name}: expected a tensor, got {type(x).__name__}")
        if x.dim() == 3:
            x = x[None]
        if x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"{self.name}: expected images of shape (N, 3, H, W), got {tuple(x.shape)}")
        # one sum decides for finite images (a NaN or an inf makes it non-finite); only a sum that
        # overflows has the elements looked at one by one
        if not math.isfinite(float(x.detach().sum())) and not torch.isfinite(x).all():
            raise ImageError(f"{self.name}: the input contains non-finite values (NaN or inf)")
        if min(x.shape[-2:]) < self.min_size:
            raise ImageError(f"{self.name}: input {x.shape[-2]}x{x.shape[-1]} is smaller than the "
                             f"minimum {self.min_size}x{self.min_size}")
        return x

    def spec(self) -> Dict[str, Any]:
        """Every option of this representation, JSON-serializable; ``kind`` names the family."""
        return {"kind": self.name}

    def hints(self) -> Hints:
        """Per-representation settings for the presets (none by default)."""
        return Hints()

    def mean_color(self) -> Optional[torch.Tensor]:
        """The (3,) mean color the representation subtracts from [0, 1] images, if it has one
        (the papers' presets work in pixels minus this color)."""
        return None

    @property
    def network(self) -> Optional[nn.Module]:
        """The network whose forward pass computes the code (a CNN's model), to which backward rules
        are scoped; ``None`` for a representation that is not one network's pass."""
        return None

    @property
    def device(self) -> torch.device:
        """Where the representation computes: its first parameter's or buffer's device."""

        return device_of(self)

    def require_differentiable(self, method: str) -> None:
        if not self.differentiable:
            raise NotDifferentiableError(f"{method} needs gradients, but representation {self.name!r} "
                                         f"is not differentiable; use a trained inverter (--method learned)")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def features_at(self, x: torch.Tensor, layers: Sequence[Optional[str]]) -> Dict[Optional[str], torch.Tensor]:
        """Codes at several layers in one pass (``None``: this representation's own). Only
        representations with layers (a CNN) know other names."""
        other = [k for k in layers if k is not None]
        if other:
            raise LayerError(f"{self.name} has no layers ({', '.join(other)}); objectives bound to a layer need a CNN")
        return {None: self.features(x)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(self.check_input(x))

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class Handcrafted(Representation):
    sees_color = False

    """Base of the hand-crafted descriptors: luma-based, with four preset hints.

    ``default_tv``: the default preset's TV weight (1.0, chosen by measurement on the development
    images, BENCHMARKS.md) and ``default_lr`` its learning rate (0.05); ``mv2016_C = 100`` (IJCV 2016 uses C = 100 for HOG);
    ``mv2015_lambda_tv = 1`` (the papers give per-layer values only for CNNs; a descriptor with
    stride 8 is treated like AlexNet's first band, our choice).
    """

    def hints(self) -> Hints:
        return Hints(default_tv=1.0, default_lr=0.05, mv2016_C=100.0, mv2015_lambda_tv=1.0, default_recipe="classic")

    def spec(self) -> Dict[str, Any]:
        return {"kind": self.name, **self.options()}

    def options(self) -> Dict[str, Any]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.spec().items())
