"""Representations Phi: images in [0, 1] -> features.

CNN layers of any ``nn.Module`` (:class:`CNNLayer`) and hand-crafted descriptors (``hog``,
``hogb``, ``hog-dt``, ``dsift``, ``lbp``), all behind one contract (:class:`Representation`).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from .base import Representation
from .cnn import CNNLayer, LayerInfo, probe_layers, resolve_layer
from .hog import HOG, HOGDalalTriggs, glyphs
from .lbp import LBP
from .sift import DSIFT

__all__ = ["Representation", "CNNLayer", "LayerInfo", "probe_layers", "resolve_layer", "HOG",
           "HOGDalalTriggs", "DSIFT", "LBP", "glyphs", "HANDCRAFTED", "build", "parse_handcrafted"]

#: name -> (constructor, {option: type}); options are given as ``name:key=value,key=value``
HANDCRAFTED: Dict[str, tuple] = {
    "hog": (lambda **k: HOG(soft=False, **k), {"cell": int, "orientations": int}),
    "hogb": (lambda **k: HOG(soft=True, **k), {"cell": int, "orientations": int}),
    "hog-dt": (HOGDalalTriggs, {"cell": int, "orientations": int, "block": int}),
    "dsift": (DSIFT, {"bin_size": int, "orientations": int, "spatial": int, "sigma": float}),
    "lbp": (LBP, {"cell": int, "P": int, "R": float}),
}


def parse_handcrafted(spec: str) -> Optional[Tuple[str, dict]]:
    """``"dsift:bin_size=5"`` -> ``("dsift", {"bin_size": 5})``; None if not a hand-crafted name."""
    from ..errors import ModelError

    name, _, opts = spec.partition(":")
    if name not in HANDCRAFTED:
        return None
    allowed = HANDCRAFTED[name][1]
    kw = {}
    for part in filter(None, opts.split(",")):
        key, eq, val = part.partition("=")
        if not eq or key not in allowed:
            raise ModelError(f"{name}: bad option {part!r}; options: {', '.join(f'{k}=...' for k in allowed)}")
        try:
            kw[key] = allowed[key](val)
        except ValueError:
            raise ModelError(f"{name}: option {key} must be {allowed[key].__name__}, got {val!r}") from None
        if kw[key] <= 0:
            raise ModelError(f"{name}: option {key} must be positive, got {val!r}")
    return name, kw


def build(model: str, layer: Optional[str] = None, weights: Optional[str] = None, mean=None, std=None,
          size: Optional[int] = None, pretrained: bool = True) -> Representation:
    """A representation from a name: a hand-crafted descriptor (``hog``, ``dsift:bin_size=5``; no
    layer) or a model spec plus a layer."""
    from ..errors import LayerError, ModelError
    from ..models import load_model

    hc = parse_handcrafted(model)
    if hc is not None:
        if layer is not None:
            raise LayerError(f"{hc[0]} is a hand-crafted representation and has no layers; drop --layer")
        rep = HANDCRAFTED[hc[0]][0](**hc[1])
        rep.input_size = int(size) if size else 224
        return rep
    try:
        info = load_model(model, weights=weights, mean=mean, std=std, input_size=size, pretrained=pretrained)
    except ModelError as e:
        if str(e).startswith("unknown model"):
            raise ModelError(f"{e}; or a hand-crafted representation: {', '.join(HANDCRAFTED)}") from None
        raise
    if layer is None:
        raise LayerError(f"model {model!r} needs --layer; 'preimage layers {model}' lists them")
    return CNNLayer(info.module, layer, mean=info.mean, std=info.std, aliases=info.aliases,
                    input_size=info.input_size, name=f"{info.name}/{layer}")
