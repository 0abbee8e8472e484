"""Natural pre-images as jobs: ``maximize`` (units of a layer, batched), ``caricature`` (photos
exaggerated by what a layer sees) and ``accentuate`` (one unit pushed in photos kept near
themselves). The computation lives in :mod:`preimage.optimize.maximize` and ``accentuate``; this
module chooses the units, normalizes them and returns results (``UnitImages``, ``Caricatures``, ``Accentuation``).
With a judge network and a labelled folder (``--judge``, ``--reference``), ``maximize`` also measures
the images' naturalness (:mod:`preimage.naturalness`: plausibility, the MIS-style score) - :func:`judge_units`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ..data import index_folder
from ..errors import ConfigError
from ..images import PHOTOS, encode_png, labels_for, list_images, load_image, resize
from ..metrics import spectrum_slope
from ..models import load_model
from ..models.classifier import Classifier
from ..naturalness import QUERIES, interpretability, last_linear, penultimate, plausibility
from ..optimize.accentuate import ITERS, AccentuationResult, accentuate, check_accent_param
from ..optimize.featurevis import check_param, photo_spectrum
from ..optimize.maximize import (
    Maximization,
    at_place,
    caricature,
    check_diversity,
    check_units,
    check_views,
    maximize,
    natural_maxima,
)
from ..optimize.param import mean_amplitude_spectrum
from ..optimize.presets import get_preset
from ..parsing import parse_ints, parse_range
from ..representations.base import Representation
from ..results import Shown


def parse_units(channels: Optional[str] = None, units: Optional[str] = None, classes: Optional[str] = None,
                count: Optional[int] = None) -> List[int]:
    """``--channels A:B``, ``--units 3,17,40`` or ``--classes all|3,5`` (``count``: the layer's size,
    for ``all``); exactly one of them."""
    given = [x for x in (channels, units, classes) if x is not None]
    if len(given) != 1:
        raise ConfigError("choose the units with exactly one of --channels A:B, --units 3,17,40, --classes all")
    if channels is not None:
        return list(range(*parse_range(channels, "--channels")))
    if units is not None:
        return parse_ints(units, "--units")
    assert classes is not None
    if classes == "all":
        if count is None:
            raise ConfigError("--classes all needs the layer's size")
        return list(range(count))
    return parse_ints(classes, "--classes")


def natural_images(folder: Optional[str], size: int, option: str = "--normalize-on",
                   limit: int = 2000) -> Tuple[torch.Tensor, str]:
    """Natural images (units are normalized on them; MACO keeps their mean amplitude spectrum): a
    folder (its first ``limit`` images in name order; ``option`` names it in an error) or, by
    default, the color photos that scikit-image ships. (images, description)"""
    if folder is None:
        return torch.stack([load_image(f"sample:{n}", size) for n in PHOTOS]), "scikit-image photos"
    files = list_images(folder, recursive=True)[:limit]
    if not files:
        raise ConfigError(f"{option} {folder} holds no images")
    return torch.stack([load_image(f, size) for f in files]), f"{folder} ({len(files)} images)"


def maximize_param(param: Optional[str], preset=None) -> str:
    """``--param`` for ``maximize``: as given, else the preset's choice (``default``: maco; the
    papers' presets: pixel)."""
    if param is not None:
        return param
    return get_preset(preset or "default").maximize_param


def check_param_args(param: str, spectrum_from: Optional[str]) -> None:
    """``--param`` and ``--spectrum-from`` checked without loading anything (before ``--out`` is
    claimed): a known parameterization, a folder only for ``maco``, and one that holds images."""
    check_param(param)
    if param != "maco" and spectrum_from is not None:
        raise ConfigError(f"--spectrum-from is for --param maco (the natural amplitude spectrum), not --param {param}")
    if spectrum_from is not None and not list_images(spectrum_from, recursive=True):
        raise ConfigError(f"--spectrum-from {spectrum_from} holds no images")


def natural_spectrum(param: str, spectrum_from: Optional[str], size: int) -> Tuple[Optional[torch.Tensor], Optional[str]]:
    """MACO's fixed magnitude (and where it came from) for ``param``; None for the others. Refuses
    ``--spectrum-from`` for a parameterization that has no use for it."""
    check_param_args(param, spectrum_from)
    if param != "maco":
        return None, None
    if spectrum_from is None:
        return photo_spectrum(size), "scikit-image photos"
    images, where = natural_images(spectrum_from, size, "--spectrum-from")
    return mean_amplitude_spectrum(images), where


@dataclass(repr=False)
class UnitImages(Shown):
    """A :class:`Maximization` with what it was made of (a :class:`~preimage.results.Result`: one PNG
    per unit and sample; the report adds ``grid.png``)."""

    command = "maximize"
    label_chars = 12      # about what one grid cell's label line holds (the grid scales its font with its width)

    result: Maximization
    model: str
    layer: str
    normalized_on: str
    labels: Optional[Sequence[str]] = None
    #: the spectrum slope (:func:`preimage.metrics.spectrum_slope`) of the natural images normalized on (mean)
    natural_slope: Optional[float] = None
    #: where MACO's amplitude spectrum came from (``--param maco``)
    spectrum_from: Optional[str] = None
    #: the naturalness measured by a judge network (:func:`judge_units`; ``--judge`` / ``--reference``)
    naturalness: Optional[Dict] = None

    def slopes(self) -> torch.Tensor:
        """(U, S) each visualization's amplitude-spectrum slope."""
        m = self.result
        return spectrum_slope(m.images.flatten(0, 1)).view(m.images.shape[:2])

    def name(self, i: int, k: int) -> str:
        return f"unit{self.result.units[i]:04d}_s{k}.png"

    def normalization(self, i: int) -> Tuple[Optional[float], str]:
        """Unit ``i``'s divisor (None where there is none) and how it was obtained."""
        m = self.result
        if bool(m.has_normalizer[i]):
            what = "spatial mean" if m.mode == "mean" else "activation"
            return float(m.normalizer[i]), f"largest {what} on {self.normalized_on}"
        if m.natural_max is None:
            return None, "none: not normalized; normalized_activation is the raw activation"
        return None, (f"none: no natural image activates this unit (its largest activation on {self.normalized_on} "
                      f"is {float(m.natural_max[i]):.4g}); normalized_activation is the raw activation")

    def to_json(self) -> Dict:
        m = self.result
        norms = [self.normalization(i) for i in range(len(m.units))]
        slopes = self.slopes()
        return {"model": self.model, "layer": self.layer, "preset": m.preset, "param": m.param, "views": m.views,
                "iters": m.iterations,
                "seconds": round(m.seconds, 3), "mode": m.mode, "normalized_on": self.normalized_on,
                **({"spectrum_from": self.spectrum_from} if self.spectrum_from else {}),
                "spectrum_slope": {"mean": float(slopes.mean()), "min": float(slopes.min()), "max": float(slopes.max()),
                                   "natural": self.natural_slope,
                                   "band": "2-14 cycles per 32 px image (same cycles per pixel at other sizes)"},
                "not_normalized": [u for u, (d, _) in zip(m.units, norms) if d is None],
                **({"diversity": self.diversity_record()} if m.diversity is not None else {}),
                **({"naturalness": self.naturalness} if self.naturalness is not None else {}),
                "units": [{"unit": u, "sample": k, "output": self.name(i, k), "activation": float(m.activation[i, k]),
                           "normalized_activation": float(m.normalized[i, k]), "normalizer": norms[i][0],
                           "normalized_by": norms[i][1], "rank": int(m.rank[i, k]),
                           "spectrum_slope": float(slopes[i, k]),
                           **({"label": self.labels[u]} if self.labels and u < len(self.labels) else {})}
                          for i, u in enumerate(m.units) for k in range(m.images.shape[1])]}

    def naturalness_lines(self) -> List[str]:
        r = self.naturalness
        if r is None:
            return []
        i = r["interpretability"]
        out = [f"interpretability (judge {r['judge']}, {r['reference']}): {i['accuracy']:.2f} of 2-alternative trials "
               f"pick the most-activating image (chance 0.50), mean probability {i['probability']:.2f}"]
        if "plausibility" in r:
            p = r["plausibility"]
            out.append(f"plausibility (judge {r['judge']}): {p['same_class_of_k_nearest']:.2f} of the {p['k']} nearest "
                       f"natural images share the class (chance {p['chance']:.2f}), nearest-neighbour accuracy "
                       f"{p['nearest_neighbour_accuracy']:.2f}")
        return out

    def diversity_record(self) -> Dict:
        """``--diversity``: its weight and each unit's mean pairwise Gram cosine (and their mean)."""
        m = self.result
        assert m.similarity is not None
        return {"weight": m.diversity, "layer": self.layer, "mean_pairwise_gram_cosine": float(m.similarity.mean()),
                "per_unit": {str(u): float(c) for u, c in zip(m.units, m.similarity)},
                "measure": "cosine similarity of the Gram matrices of the layer's activations, between the samples "
                           "of a unit (final images, no transforms)"}

    def label(self, i: int, k: int) -> str:
        """The grid's label: the unit's name and normalized activation; for a unit with no natural
        normalizer, its raw activation marked ``raw`` - or, where that would not fit a grid cell,
        the name and the mark alone (the mark matters more than a number on another scale)."""
        u = self.result.units[i]
        name = self.labels[u] if self.labels and u < len(self.labels) else f"unit {u}"
        value = f"{float(self.result.normalized[i, k]):.1f}"
        if bool(self.result.has_normalizer[i]):
            return f"{name} {value}"
        for text in (f"{name} {value} raw", f"{name} raw"):
            if len(text) <= self.label_chars:
                return text
        return name[:max(1, self.label_chars - 5)].rstrip() + ". raw"

    def files(self) -> Dict[str, bytes]:
        m = self.result
        return {self.name(i, k): encode_png(m.images[i, k]) for i in range(len(m.units)) for k in range(m.images.shape[1])}

    def lines(self) -> List[str]:
        nat = f" (photos {self.natural_slope:.2f})" if self.natural_slope is not None else ""
        return self.naturalness_lines() + [f"unit {r['unit']:>4} sample {r['sample']}  activation {r['activation']:.3f}  normalized "
                f"{r['normalized_activation']:.2f}  rank {r['rank']}  spectrum slope {r['spectrum_slope']:.2f}{nat}"
                + ("" if r["normalizer"] is not None else "  (raw activation: no natural normalizer)")
                for r in self.to_json()["units"]]


#: natural images read from ``--reference`` (evenly spaced over the folder in name order)
REFERENCE_IMAGES = 1000


@dataclass
class Reference:
    """Labelled natural images (``--reference DIR``, class subfolders): ``labels`` index ``classes``
    (the folder's class names, sorted; -1: an image outside any class folder)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: List[str]
    where: str


@dataclass
class Judge:
    """An independent network whose penultimate features are the similarity space (``--judge``)."""

    name: str
    model: Classifier
    input_size: int


def check_judge_args(judge: Optional[str], reference: Optional[str], limit: int = REFERENCE_IMAGES) -> None:
    """``--judge`` and ``--reference`` come together, the folder holds images (nothing loaded)."""
    if (judge is None) != (reference is None):
        raise ConfigError("--judge MODEL and --reference DIR go together: the judge network compares the "
                          "visualizations with the reference folder's natural images")
    if limit < 1:
        raise ConfigError(f"--reference-images must be at least 1, got {limit}")
    if reference is not None and not list_images(reference, recursive=True):
        raise ConfigError(f"--reference {reference} holds no images")


def load_judge(spec: str) -> Judge:
    """The judge network ``spec`` (a zoo name or model file), refused when it has no linear layer."""
    info = load_model(spec)
    model = Classifier.from_info(info).eval()
    last_linear(model)
    return Judge(spec, model, int(info.input_size))


def load_reference(folder: str, size: int, limit: int = REFERENCE_IMAGES,
                   classes: Optional[Sequence[str]] = None) -> Reference:
    """``limit`` images of ``folder`` spread evenly over it (name order, so over its class folders),
    at ``size``. ``classes`` (the class names of the units to be judged for plausibility): the folder's
    class folders must include every one of them."""
    items = index_folder(folder)
    if not len(items):
        raise ConfigError(f"--reference {folder} holds no images")
    names = sorted({v for v in items.labels() if v is not None})
    if classes is not None:
        missing = [c for c in classes if c not in names]
        if missing:
            raise ConfigError(f"--reference {folder} has no class folder for {', '.join(missing[:5])}"
                              f"{' ...' if len(missing) > 5 else ''}: plausibility needs natural images of the "
                              f"visualized classes (it has: {', '.join(names[:10]) or 'no class folders'})")
    items = items.evenly_spaced(limit)
    if len(items) < 2 * QUERIES:
        raise ConfigError(f"--reference {folder}: {len(items)} images read, the interpretability score needs at least "
                          f"{2 * QUERIES} ({QUERIES} most- and {QUERIES} least-activating per unit)")
    index = {c: i for i, c in enumerate(names)}
    labels = torch.tensor([index[v] if v is not None else -1 for v in items.labels()], dtype=torch.long)
    images = torch.stack([items.load(i, size) for i in range(len(items))])
    return Reference(images, labels, names, f"{folder} ({len(items)} images)")


@torch.no_grad()
def unit_activations(rep: Representation, images: torch.Tensor, units: Sequence[int], batch: int = 256) -> torch.Tensor:
    """(N, U) each unit's activation on natural ``images``: a vector element, or a channel's spatial
    mean (a natural image may show the feature anywhere)."""
    idx = torch.tensor([int(u) for u in units])
    return torch.cat([at_place(rep(images[i:i + batch].to(rep.device)).float().cpu(), "mean", None)[:, idx]
                      for i in range(0, len(images), batch)])


def judge_units(images: torch.Tensor, units: Sequence[int], rep: Representation, judge: Judge, reference: Reference,
                classes: Optional[Sequence[str]] = None, seed: int = 0,
                activations: Optional[torch.Tensor] = None) -> Dict:
    """The naturalness of visualizations ``images`` (U, S, 3, H, W) of ``units`` of ``rep``, judged
    by ``judge`` against ``reference``: the MIS-style interpretability score (queries: each unit's
    most- and least-activating reference images), and where ``classes`` names each unit's class
    (class visualizations; ``classes[unit]``) the plausibility. ``activations``: the units' (N, U)
    activations on the reference images, if already computed. A record (dict)."""
    n_units, samples = images.shape[:2]
    vis = images.flatten(0, 1).float()
    if vis.shape[-1] != judge.input_size or vis.shape[-2] != judge.input_size:
        vis = resize(vis, (judge.input_size, judge.input_size))
    ref = reference.images
    if ref.shape[-1] != judge.input_size or ref.shape[-2] != judge.input_size:
        ref = resize(ref, (judge.input_size, judge.input_size))
    fv = penultimate(judge.model, vis)
    fn = penultimate(judge.model, ref)
    acts = activations if activations is not None else unit_activations(rep, reference.images, units)
    mis = interpretability(fv.view(n_units, samples, -1), fn, acts, units, seed=seed)
    rec: Dict = {"judge": judge.name, "reference": reference.where,
                 "similarity": "cosine of the judge's penultimate features (the input of its last linear layer)",
                 "interpretability": {**mis.record(), "query_activation": "a vector element, or a channel's spatial "
                                      "mean, on the reference images"}}
    if classes is not None:
        index = {c: i for i, c in enumerate(reference.classes)}
        want = torch.tensor([index[classes[int(u)]] for u in units for _ in range(samples)])
        keep = reference.labels >= 0
        rec["plausibility"] = plausibility(fv, want, fn[keep], reference.labels[keep]).record()
    return rec


def maximize_units(rep: Representation, units: Sequence[int], *, mode: str = "center", position: Optional[Tuple[int, int]] = None,
                   samples: int = 1, preset=None, iters: Optional[int] = None, seed: int = 0,
                   normalize_on: Optional[str] = None, model: str = "", layer: str = "",
                   labels: Optional[Sequence[str]] = None, show: Optional[bool] = None, param: Optional[str] = None,
                   spectrum_from: Optional[str] = None, diversity: Optional[float] = None,
                   judge: Optional[Judge] = None, reference: Optional[Reference] = None,
                   judge_classes: Optional[Sequence[str]] = None, views: int = 1) -> UnitImages:
    """Maximize ``units`` of ``rep`` as one batch, normalized on natural images; ``param``: pixel,
    fourier or maco (None: the preset's, :func:`maximize_param`; ``spectrum_from``: the folder of
    MACO's natural amplitude spectrum); ``diversity``: the weight of the term that makes a unit's ``samples`` differ. With ``judge`` and
    ``reference``: their naturalness (:func:`judge_units`; plausibility where ``judge_classes`` names
    the units' classes)."""
    check_diversity(diversity, samples)
    param = maximize_param(param, preset)
    check_views(views, param, diversity)
    size = rep.input_size
    spectrum, spectrum_where = natural_spectrum(param, spectrum_from, size)
    check_units(rep, units, (size, size))
    nat, where = natural_images(normalize_on, size)
    maxima = natural_maxima(rep, nat, mode)
    m = maximize(rep, units, mode, position, samples, preset or "default", iters, seed, normalizers=maxima, show=show,
                 param=param, spectrum=spectrum, diversity=diversity, views=views)
    judged = None
    if judge is not None and reference is not None:
        judged = judge_units(m.images, m.units, rep, judge, reference, judge_classes, seed)
    return UnitImages(m, model, layer, where, labels, float(spectrum_slope(nat).mean()), spectrum_where, judged)


@dataclass(repr=False)
class Caricatures(Shown):
    """Photos pushed towards more of what a layer sees in them (a :class:`~preimage.results.Result`)."""

    command = "caricature"
    sources: List[str]
    labels: List[str]
    layer: str
    model: str
    images: torch.Tensor
    originals: torch.Tensor
    gain: torch.Tensor
    preset: str
    iterations: int
    seconds: float
    param: str = "pixel"
    #: where MACO's amplitude spectrum came from (``--param maco``)
    spectrum_from: Optional[str] = None

    def to_json(self) -> Dict:
        return {"model": self.model, "layer": self.layer, "preset": self.preset, "param": self.param, "iters": self.iterations,
                "seconds": round(self.seconds, 3),
                **({"spectrum_from": self.spectrum_from} if self.spectrum_from is not None else {}),
                "images": [{"input": s, "output": f"{i:02d}_{self.labels[i].replace('/', '_')}_caricature.png",
                            "gain": float(self.gain[i])} for i, s in enumerate(self.sources)]}

    def files(self) -> Dict[str, bytes]:
        return {r["output"]: encode_png(im) for r, im in zip(self.to_json()["images"], self.images)}

    def lines(self) -> List[str]:
        return [f"{s:<24} gain {float(g):.3f}" for s, g in zip(self.sources, self.gain)]


def caricatures(rep: Representation, sources: Sequence[str], *, preset=None, iters: Optional[int] = None, seed: int = 0,
                model: str = "", layer: str = "", show: Optional[bool] = None, param: str = "pixel",
                spectrum_from: Optional[str] = None) -> Caricatures:
    if not sources:
        raise ConfigError("no images given")
    spectrum, where = natural_spectrum(param, spectrum_from, rep.input_size)
    x = torch.stack([load_image(s, rep.input_size) for s in sources])
    r = caricature(rep, x, preset or "default", iters, seed, show=show, param=param, spectrum=spectrum)
    return Caricatures(list(sources), labels_for(sources), layer, model, r.images, r.originals, r.gain, r.preset,
                       r.iterations, r.seconds, r.param, where)


@dataclass(repr=False)
class Accentuation(Shown):
    """Photos with one unit accentuated (a :class:`~preimage.results.Result`: per image the
    accentuated PNG and its gradient map; the report adds ``side_by_side.png``)."""

    command = "accentuate"
    sources: List[str]
    labels: List[str]
    model: str
    layer: str
    result: AccentuationResult
    unit_kind: str = "channel"            # channel or class
    class_names: Optional[Sequence[str]] = None

    def stem(self, i: int) -> str:
        return f"{i:02d}_{self.labels[i].replace('/', '_')}"

    def unit_name(self, i: int) -> str:
        u = self.result.units[i]
        if self.unit_kind == "class" and self.class_names and u < len(self.class_names):
            return f"class {u} ({self.class_names[u]})"
        return f"{self.unit_kind} {u}"

    def to_json(self) -> Dict:
        r = self.result
        gain = r.gain
        return {"model": self.model, "layer": self.layer, "param": r.param, "keep": r.keep, "mode": r.mode,
                "iters": r.iterations, "seconds": round(r.seconds, 3), "keep_layer": r.keep_layer,
                "penalty": ("keep * mean squared pixel difference to the photo" if r.keep_layer is None else
                            f"keep * mean squared change of {r.keep_layer}'s code relative to the photo's"),
                "gradient_map": "sum over the run of |d activation / d image| (summed over colors), each image's max = 1",
                "images": [{"input": s, "output": f"{self.stem(i)}_accentuated.png",
                            "gradient_map": f"{self.stem(i)}_gradient.png", self.unit_kind: r.units[i],
                            **({"label": self.class_names[r.units[i]]} if self.unit_kind == "class" and self.class_names
                               and r.units[i] < len(self.class_names) else {}),
                            "activation_before": float(r.before[i]), "activation_after": float(r.after[i]),
                            "gain": None if math.isnan(float(gain[i])) else float(gain[i]),
                            "ssim": float(r.ssim[i]), "image_error": float(r.image_error[i])}
                           for i, s in enumerate(self.sources)]}

    def files(self) -> Dict[str, bytes]:
        r = self.result
        out: Dict[str, bytes] = {}
        for i in range(len(self.sources)):
            out[f"{self.stem(i)}_accentuated.png"] = encode_png(r.images[i])
            out[f"{self.stem(i)}_gradient.png"] = encode_png(r.gradient_map[i].unsqueeze(0).expand(3, -1, -1))
        return out

    def lines(self) -> List[str]:
        return [f"{s:<24} {self.unit_name(i)}  activation {rec['activation_before']:.3f} -> {rec['activation_after']:.3f}"
                + (f"  gain {rec['gain']:.2f}" if rec["gain"] is not None else "  (no gain: the photo does not activate it)")
                + f"  SSIM {rec['ssim']:.3f}  image_error {rec['image_error']:.3f}"
                for i, (s, rec) in enumerate(zip(self.sources, self.to_json()["images"]))]


def accentuations(rep: Representation, sources: Sequence[str], *, channel: Optional[int] = None,
                  klass: Optional[int] = None, mode: str = "center", param: str = "fourier",
                  iters: Optional[int] = None, keep: Optional[float] = None, model: str = "", layer: str = "",
                  class_names: Optional[Sequence[str]] = None, show: Optional[bool] = None,
                  keep_layer: Optional[str] = None) -> Accentuation:
    """Accentuate ``--channel C`` (a channel of a map or an element of a vector code) or ``--class K``
    (a class score: ``rep`` must give one number per class) in each photo of ``sources``."""
    kind, unit = check_accent_args(rep, channel, klass, param, class_names)
    if not sources:
        raise ConfigError("no images given")
    x = torch.stack([load_image(s, rep.input_size) for s in sources])
    r = accentuate(rep, x, [unit] * len(sources), mode=mode, param=param, show=show,
                   iters=iters if iters is not None else ITERS, keep=keep, keep_layer=keep_layer)
    return Accentuation(list(sources), labels_for(sources), model, layer, r, kind, class_names)


def check_accent_args(rep: Representation, channel: Optional[int], klass: Optional[int], param: str,
                      class_names: Optional[Sequence[str]] = None) -> Tuple[str, int]:
    """``(kind, unit)`` for exactly one of ``--channel`` / ``--class``, checked against the layer
    (one forward pass; nothing loaded or written): a channel in range, a class only on a class layer."""
    check_accent_param(param)
    if (channel is None) == (klass is None):
        raise ConfigError("choose the unit with exactly one of --channel C or --class K")
    shape = tuple(rep.output_shape(rep.input_size))
    n = shape[0]
    if klass is not None:
        if len(shape) != 1 or (class_names is not None and n != len(class_names)):
            raise ConfigError(f"--class is for the class scores; {rep.name} gives {'x'.join(map(str, shape))}: "
                              f"use --channel C")
        unit, kind = int(klass), "class"
    else:
        unit, kind = int(channel), "channel"  # type: ignore[arg-type]
    if not 0 <= unit < n:
        raise ConfigError(f"--{kind} {unit} is out of range: {rep.name} has {n} "
                          f"{'classes' if kind == 'class' else ('channels' if len(shape) == 3 else 'elements')} "
                          f"(valid: 0 to {n - 1})")
    return kind, unit
