"""One-liners for notebooks and scripts: :func:`invert`, :func:`maximize`, :func:`project`, :func:`attack`.

Each is a thin call of the job its command runs, and returns that job's result (which shows itself
in Jupyter, and which ``preimage.report.save(result, folder)`` writes exactly as the command does)::

    import preimage
    r = preimage.invert("refnet", "conv3", "sample:coffee", iters=50)   # a Reconstruction
    m = preimage.maximize("refnet", "conv5:0:8", iters=50)             # channels 0..7 of conv5
    p = preimage.project("refnet", "conv5", "sample:chelsea", top=4)
    a = preimage.attack("refnet", ["sample:coffee", "sample:chelsea"], eps="8/255")

``model``: a zoo name (``refnet``), a model file (``.toml``), ``package.module:factory``, a loaded
:class:`~preimage.models.ModelInfo`, or any ``nn.Module`` (then ``mean`` / ``std`` give the
normalization it expects of [0, 1] images; ``size`` its input size; its ``preimage_*`` attributes
are read where present). For :func:`invert`, also a hand-crafted descriptor (``hog``,
``dsift:bin_size=5``) with ``layer=None``. ``images``: a path or ``sample:NAME``, a list of them,
or a (N, 3, H, W) (or (3, H, W)) tensor in [0, 1].
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from . import report  # noqa: F401  (importing the report registers how every result shows itself)
from .attacks import check_norm, parse_eps
from .errors import ConfigError, LayerError, ModelError
from .jobs.attacks import Attack, run_attack
from .jobs.inversion import Reconstruction, reconstruct
from .jobs.natural import UnitImages, maximize_units
from .jobs.projection import Projection
from .jobs.projection import project as project_job
from .models import ModelInfo, load_model
from .models.loading import parse_floats
from .optimize.objectives import parse_channels
from .parsing import parse_ints, parse_list, parse_range
from .representations import CNNLayer, Representation, build, parse_handcrafted

__all__ = ["invert", "maximize", "project", "attack", "model_info"]

ModelLike = Union[str, "os.PathLike[str]", ModelInfo, nn.Module]
ImagesLike = Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]], torch.Tensor]
UnitsLike = Union[None, int, str, Iterable[int]]


def model_info(model: ModelLike, mean=None, std=None, size: Optional[int] = None, weights: Optional[str] = None,
               seed: int = 0) -> ModelInfo:
    """``model`` as a :class:`~preimage.models.ModelInfo`: a zoo name, a model file or factory spec
    (loaded by :func:`preimage.models.load_model`), a ``ModelInfo`` (``mean`` / ``std`` / ``size``
    override its own) or an ``nn.Module`` (normalization from ``mean`` / ``std``, else its
    ``preimage_mean`` / ``preimage_std`` attributes, else none)."""
    if isinstance(model, ModelInfo):
        m, s = parse_floats(mean, "mean"), parse_floats(std, "std")
        return dataclasses.replace(model, mean=m or model.mean, std=s or model.std, input_size=int(size or model.input_size))
    if isinstance(model, nn.Module):
        m = parse_floats(mean if mean is not None else getattr(model, "preimage_mean", None), "mean")
        s = parse_floats(std if std is not None else getattr(model, "preimage_std", None), "std")
        classes = getattr(model, "preimage_classes", None)
        input_size: Any = size or getattr(model, "preimage_input_size", 224)  # nn.Module types getattr as tensors
        return ModelInfo(module=model, name=type(model).__name__, mean=m or (0.0, 0.0, 0.0), std=s or (1.0, 1.0, 1.0),
                         input_size=int(input_size),
                         aliases=dict(getattr(model, "preimage_aliases", None) or {}),
                         classes=tuple(classes) if classes else None)
    if isinstance(model, (str, os.PathLike)):
        return load_model(os.fspath(model), weights=weights, mean=mean, std=std, input_size=size, seed=seed)
    raise ModelError(f"model must be a zoo name, a model file, an nn.Module or a ModelInfo, not {type(model).__name__}")


def _representation(model: ModelLike, layer: Optional[str], mean, std, size: Optional[int], weights: Optional[str],
                    seed: int, device) -> Tuple[Representation, str, Optional[ModelInfo]]:
    """(the representation, the model's name for the record, the model: None for a descriptor)."""
    info: Optional[ModelInfo] = None
    if isinstance(model, str) and parse_handcrafted(model) is not None:
        rep = build(model, layer, size=size)
        name = model
    else:
        info = model_info(model, mean, std, size, weights, seed)
        if layer is None:
            raise LayerError(f"model {info.name} needs a layer; preimage.describe_layers or 'preimage layers' lists them")
        rep = CNNLayer.from_info(info, layer)
        name = info.name
    if device is not None:
        rep = rep.to(torch.device(device))
    return rep, name, info


def _images(images: ImagesLike) -> Union[List[str], torch.Tensor]:
    """Paths (one or several) as a list of strings; a tensor as (N, 3, H, W)."""
    if isinstance(images, torch.Tensor):
        return images[None] if images.dim() == 3 else images
    if isinstance(images, (str, os.PathLike)):
        return [os.fspath(images)]
    out = [os.fspath(x) for x in images]
    if not out:
        raise ConfigError("no images given")
    return out


def invert(model: ModelLike, layer: Optional[str], images: ImagesLike, *, method: str = "optimization",
           inverter=None, preset=None, iters: Optional[int] = None, samples: int = 1, window: Optional[int] = None,
           channels: Union[None, str, Tuple[int, int]] = None, seed: int = 0, size: Optional[int] = None,
           mean=None, std=None, weights: Optional[str] = None, device=None, labels: Optional[Sequence[str]] = None,
           show: Optional[bool] = None, converge: Optional[Tuple[int, float]] | bool = None) -> Reconstruction:
    """Reconstruct ``images`` from the code of ``layer`` of ``model`` (``preimage invert``).

    ``method``: ``optimization`` (``preset``, ``iters``, ``samples``, ``window``, ``channels`` as
    ``"A:B"`` or a pair, ``converge``: each image's convergence test as ``(window, rel_tol)``, None
    for the preset's, False for none), ``learned`` (one pass of ``inverter``, default the bundled
    one) or ``hybrid``. Returns a :class:`~preimage.jobs.inversion.Reconstruction` (``.result`` holds the
    tensors: images (N, K, 3, H, W), std, feature_error)."""
    rep, name, _ = _representation(model, layer, mean, std, size, weights, seed, device)
    chans = parse_channels(channels) if isinstance(channels, str) else channels
    return reconstruct(rep, _images(images), method, inverter=inverter, preset=preset, iters=iters, samples=samples,
                       window=window, channels=chans, seed=seed, size=size, labels=labels, layer=layer, model=name,
                       show=show, converge=converge)


def _units(units: UnitsLike, count: int) -> List[int]:
    """``3``, ``"3"``, ``"3,17"``, ``"0:8"``, ``"all"`` or any iterable of ints -> unit numbers."""
    if units is None:
        raise ConfigError("choose the units: 'layer:3', 'layer:0:8', or units=[3, 17] / units='all'")
    if isinstance(units, int):
        return [units]
    if isinstance(units, str):
        text = units.strip()
        if text == "all":
            return list(range(count))
        if ":" in text:
            return list(range(*parse_range(text, "units")))
        return parse_ints(text, "units")
    return [int(u) for u in units]


def maximize(model: ModelLike, layer: str, units: UnitsLike = None, *, samples: int = 1, mode: str = "center",
             position: Optional[Tuple[int, int]] = None, preset=None, iters: Optional[int] = None, seed: int = 0,
             normalize_on: Optional[str] = None, size: Optional[int] = None, mean=None, std=None,
             weights: Optional[str] = None, device=None, show: Optional[bool] = None, param: Optional[str] = None,
             diversity: Optional[float] = None, views: int = 1, spectrum_from: Optional[str] = None) -> UnitImages:
    """Images that maximize units of a layer, all as one batch (``preimage maximize``).

    The units: ``"conv5:3"``, ``"conv5:0:8"`` (channels 0 to 7), ``"fc8:all"``, or ``layer`` with
    ``units`` (an int, a list, ``range(8)``, ``"3,17"``, ``"0:8"``, ``"all"``). Activations are
    normalized by each unit's maximum over natural photos (``normalize_on``: a folder; default
    the photos scikit-image ships). ``param`` (pixel, fourier, maco; default the preset's),
    ``diversity``, ``views`` and ``spectrum_from`` (a folder whose mean amplitude spectrum maco
    keeps) as the command's ``--param``, ``--diversity``, ``--views``, ``--spectrum-from``. Returns a
    :class:`~preimage.jobs.natural.UnitImages`."""
    name, sep, spec = layer.partition(":")
    if sep:
        if units is not None:
            raise ConfigError(f"units given twice: in {layer!r} and as units={units!r}")
        units = spec
    rep, model_name, info = _representation(model, name, mean, std, size, weights, seed, device)
    shape = rep.output_shape(rep.input_size)
    classes = info.classes if info is not None else None
    # a vector layer with one unit per class (the logits): its units are named by the classes
    labels = classes if classes and len(shape) == 1 and shape[0] == len(classes) else None
    return maximize_units(rep, _units(units, shape[0]), mode="position" if position else mode, position=position,
                          samples=samples, preset=preset, iters=iters, seed=seed, normalize_on=normalize_on,
                          model=model_name, layer=name, labels=labels, show=show, param=param, diversity=diversity,
                          views=views, spectrum_from=spectrum_from)


def project(model: ModelLike, layer: str, images: ImagesLike, *, channel: Optional[int] = None,
            top: Optional[int] = None, rule: str = "deconvnet", size: Optional[int] = None, mean=None, std=None,
            weights: Optional[str] = None, device=None, labels: Optional[Sequence[str]] = None,
            seed: int = 0) -> Projection:
    """Project ``channel`` (or each image's ``top`` channels) of ``layer`` back to the pixels of each
    image (``preimage project``; ``rule``: ``deconvnet``, ``guided`` or ``gradient``). Returns a
    :class:`~preimage.jobs.projection.Projection`."""
    rep, name, _ = _representation(model, layer, mean, std, size, weights, seed, device)
    return project_job(rep, _images(images), channel=channel, top=top, rule=rule, labels=labels, model=name, layer=layer)


def attack(model: ModelLike, images: Optional[ImagesLike] = None, *, eps: Union[float, str] = 8 / 255,
           method: str = "pgd", norm: Union[str, int] = "inf", steps: int = 10,
           step_size: Union[None, float, str] = None, target: Optional[int] = None, seed: int = 0,
           data: Optional[str] = None, n: int = 100, invert_layers: Union[str, Sequence[str]] = (),
           size: Optional[int] = None, mean=None, std=None, weights: Optional[str] = None) -> Attack:
    """Adversarial examples (FGSM or PGD) for ``images`` or ``n`` images of the folder ``data``
    (``preimage attack``): ``eps`` a number or a fraction like ``"8/255"``; ``invert_layers``: layers
    whose clean and adversarial codes are decoded side by side. Returns a
    :class:`~preimage.jobs.attacks.Attack` (``.x``, ``.adv``, ``.record``)."""
    info = model_info(model, mean, std, size, weights, seed)
    budget = parse_eps(eps, "eps") if isinstance(eps, str) else float(eps)
    step = parse_eps(step_size, "step_size") if isinstance(step_size, str) else step_size
    layers = parse_list(invert_layers, "invert_layers") if isinstance(invert_layers, str) else list(invert_layers)
    name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else info.name
    return run_attack(info, _images(images) if images is not None else None, data, n, method, check_norm(str(norm)),
                      budget, steps, step, target, seed, model=name, invert_layers=layers)
