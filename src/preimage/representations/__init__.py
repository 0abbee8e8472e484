"""Representations Phi: images in [0, 1] -> features.

CNN layers of any ``nn.Module`` (:class:`CNNLayer`) and hand-crafted descriptors (``hog``,
``hogb``, ``hog-dt``, ``dsift``, ``lbp``), all behind one contract (:class:`Representation`).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import LayerError, ModelError
from ..models import load_model
from .base import Representation
from .cnn import CNNLayer, LayerInfo, probe_layers, resolve_layer
from .hog import HOG, HOGDalalTriggs, glyphs
from .lbp import LBP
from .sift import DSIFT

__all__ = ["Representation", "CNNLayer", "LayerInfo", "probe_layers", "resolve_layer", "HOG",
           "HOGDalalTriggs", "DSIFT", "LBP", "glyphs", "HANDCRAFTED", "build", "parse_handcrafted",
           "describe_layers"]

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
          size: Optional[int] = None, pretrained: bool = True, seed: Optional[int] = None) -> Representation:
    """A representation from a name: a hand-crafted descriptor (``hog``, ``dsift:bin_size=5``; no
    layer) or a model spec plus a layer."""

    hc = parse_handcrafted(model)
    if hc is not None:
        if layer is not None:
            raise LayerError(f"{hc[0]} is a hand-crafted representation and has no layers; drop --layer")
        if size is not None and int(size) < 1:
            raise ModelError(f"--size must be a positive number of pixels, got {size}")
        rep = HANDCRAFTED[hc[0]][0](**hc[1])
        rep.input_size = int(size) if size else 224
        return rep
    try:
        info = load_model(model, weights=weights, mean=mean, std=std, input_size=size, pretrained=pretrained, seed=seed)
    except ModelError as e:
        if str(e).startswith("unknown model"):
            raise ModelError(f"{e}; or a hand-crafted representation: {', '.join(HANDCRAFTED)}") from None
        raise
    if layer is None:
        raise LayerError(f"model {model!r} needs --layer; 'preimage layers {model}' lists them")
    return CNNLayer.from_info(info, layer)


def describe_layers(model: str, size: Optional[int] = None, weights: Optional[str] = None) -> List[str]:
    """The lines of ``preimage layers``: every module's path, alias, type, output shape and stride
    (a hand-crafted descriptor: one line on its output)."""

    if parse_handcrafted(model) is not None:
        rep = build(model, size=size)
        s = size or rep.input_size
        shape = "x".join(map(str, rep.output_shape(s)))
        return [f"{rep.name}: hand-crafted, no layers; input 3x{s}x{s} -> output {shape}, stride {rep.stride}, "
                f"differentiable: {'yes' if rep.differentiable else 'no'}"]
    info = load_model(model, weights=weights, input_size=size, pretrained=False)
    s = size or info.input_size
    rows = probe_layers(info.module, s, info.aliases, info.mean, info.std)
    w = max(len(r.path) for r in rows)
    a = max([len(r.alias or "") for r in rows] + [5])
    out = [f"{info.name}: input 3x{s}x{s}", f"{'module path':<{w}}  {'alias':<{a}}  {'type':<18} {'output shape':<18} stride"]
    for r in rows:
        shape = "x".join(map(str, r.shape)) if r.shape else "(not run)"
        out.append(f"{r.path:<{w}}  {r.alias or '':<{a}}  {r.kind:<18} {shape:<18} {r.stride or ''}")
    return out
