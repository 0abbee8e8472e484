"""The ``leakage`` job: how much of a private image an embedding gives away, and what a defense costs.

The threat model. An attacker knows the network and holds public images only. It receives the
embeddings (the output of one layer) of ``N`` private images and decodes each with an inverter: the
bundled one where one matches the layer, else one it trains on the public images with a stated
budget. Against the private images it then measures, per layer:

* reconstruction: image_error, PSNR, SSIM of the decoded image against the private one;
* re-identification: top-1 / top-5 rate of finding the true private image among the ``N`` by pixel
  correlation with the reconstruction (:func:`~preimage.privacy.measures.reidentify`; chance ``k/N``);
* attribute leakage: the accuracy of an *independent* classifier (another network than the one
  attacked) on the reconstructions, against its accuracy on the private images themselves.

Every figure is printed beside the attacker's ceiling (the private images themselves given to the
same measures) and floor (a flat gray image). Each defense perturbs the embedding before it leaves;
its utility is the attacked network's own accuracy when the rest of the network runs on the
defended embedding (:func:`~preimage.hooks.replace_output`). The attacker is not adaptive: it
decodes defended codes with the inverter trained on clean ones.

Two passes: the private images are decoded once (in ``DataLoader`` workers) and kept as uint8 -
re-identification compares every reconstruction with every one of them - then per batch every
layer and defense is decoded, measured, and counted against them; no reconstruction is kept, so
memory grows by one 8-bit image per private image and nothing else.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ... import metrics, progress
from ...data import Items, Stream, class_indices, list_items, release_memory
from ...errors import ConfigError, WeightsError
from ...hooks import replace_output
from ...learned.inverter import Inverter, find_bundled, load_inverter
from ...learned.training import train_inverter
from ...models import load_model
from ...models.classifier import Classifier
from ...models.loading import ModelInfo
from ...models.zoo import MODELS
from ...representations.cnn import CNNLayer
from ...results import Shown
from .measures import Defense, Reidentifier

NONE = Defense("noise", 0.0)  # the undefended embedding


@dataclass
class Attacker:
    """One layer's embedding and the inverter that decodes it."""

    layer: str
    rep: CNNLayer
    inverter: Inverter
    source: str            # "bundled" or "trained on DIR"


def default_judge(info: ModelInfo) -> str:
    """The first bundled zoo network with the same classes and input size that is not ``info``."""
    for name, e in MODELS.items():
        if e.bundled and name != info.name and e.classes == info.classes and e.input_size == info.input_size:
            return name
    raise ConfigError(f"no bundled network other than {info.name} shares its classes and input size; "
                      f"pass --judge MODEL (an independent classifier for attribute leakage)")


def plan(info: ModelInfo, layers: Sequence[str], public: Optional[str] = None, size: Optional[int] = None) -> Dict[str, object]:
    """Layer -> its bundled :class:`Inverter`, or ``None`` where one must be trained on ``public``.
    Refuses (before any work) a layer without an inverter when there is no public folder."""
    size = size or info.input_size
    out: Dict[str, object] = {}
    for layer in layers:
        rep = CNNLayer.from_info(info, layer, size)
        try:
            out[layer] = (rep, find_bundled(rep, size))
        except WeightsError:
            if public is None:
                raise ConfigError(f"no bundled inverter for {info.name}/{layer} at {size} px and no --public folder "
                                  f"to train one on; pass --public DIR (the attacker's images)") from None
            out[layer] = (rep, None)
    return out


def prepare(info: ModelInfo, planned: Dict, public: Optional[str], steps: int, workdir: Path, seed: int = 0,
            show: Optional[bool] = None, log=print, workers: int = 0, skip_bad: bool = False) -> List[Attacker]:
    """The attackers: bundled inverters as they are, the others trained on ``public`` (written to ``workdir``)."""
    attackers = []
    for layer, (rep, inv) in planned.items():
        if inv is not None:
            attackers.append(Attacker(layer, rep, inv, "bundled"))
            continue
        path = workdir / f"{layer.replace('/', '_')}.safetensors"
        log(f"training an inverter for {rep.name} on {public} ({steps} steps)")
        train_inverter(rep, str(public), str(path), rep.input_size, steps, seed=seed, show=show, log=log, workers=workers,
                       command=f"preimage leakage (attacker for {layer})", skip_bad=skip_bad)
        attackers.append(Attacker(layer, rep, load_inverter(path, rep, rep.input_size), f"trained on {public}"))
    return attackers


class _Tally:
    """Per-image figures of one (layer, defense), gathered batch by batch; re-identification is
    counted against the private images as the reconstructions come (none is kept)."""

    def __init__(self, n: int, originals: torch.Tensor):
        self.reid = Reidentifier(originals)
        self.cols: Dict[str, torch.Tensor] = {k: torch.zeros(n) for k in
                                              ("image_error", "psnr", "ssim", "attribute", "utility", "code_change")}

    def add(self, idx: torch.Tensor, rec: torch.Tensor, x: torch.Tensor, attribute: torch.Tensor,
            utility: torch.Tensor, code_change: torch.Tensor) -> None:
        self.reid.add(idx, to_uint8(rec))  # the reconstruction as an attacker saves it: an 8-bit image
        self.cols["image_error"][idx] = metrics.image_error(rec, x)
        self.cols["psnr"][idx] = metrics.psnr(rec, x)
        self.cols["ssim"][idx] = metrics.ssim(rec, x)
        self.cols["attribute"][idx] = attribute.float()
        self.cols["utility"][idx] = utility.float()
        self.cols["code_change"][idx] = code_change

    def summary(self, attr_y: torch.Tensor, y: torch.Tensor) -> Dict:
        reid = self.reid.result()
        c = self.cols
        return {"code_change": float(c["code_change"].mean()), "image_error": float(c["image_error"].mean()),
                "psnr": float(c["psnr"].mean()), "ssim": float(c["ssim"].mean()),
                "reid_top1": reid["top1"], "reid_top5": reid["top5"], "reid_mean_rank": float(reid["rank"].mean()),
                "attribute_accuracy": float((c["attribute"].long() == attr_y).float().mean()),
                "utility": float((c["utility"].long() == y).float().mean())}


def _constant(code: torch.Tensor):
    """A replacement that hands the rest of the network (a copy of) ``code``, whatever came in."""
    return lambda out: code.clone()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


def _fit(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


@dataclass(repr=False)
class Leakage(Shown):
    """The measured record, example reconstructions and the inverters trained for the run (a
    :class:`~preimage.results.Result` recorded as ``leakage.json``; the report draws the plots,
    the example grids and ``leakage.html``)."""

    command = "leakage"
    record_name = "leakage.json"

    record: Dict
    examples: Dict[str, List[List[torch.Tensor]]] = field(default_factory=dict)   # layer -> rows of images
    trained: Dict[str, bytes] = field(default_factory=dict)    # file name -> an inverter trained for this run

    def to_json(self) -> Dict:
        return self.record

    def example_columns(self) -> List[str]:
        first: Dict[str, Any] = next(iter(self.record["layers"].values()), {"defenses": []})
        return ["private image", "decoded"] + [f"decoded, {d['label']}" for d in first["defenses"]]

    def files(self) -> Dict[str, bytes]:
        return {f"inverters/{name}": data for name, data in self.trained.items()}

    def lines(self) -> List[str]:
        return table_lines(self.record)


def table_lines(r: Dict) -> List[str]:
    """The leakage table as text: every row beside the ceiling (the private images themselves) and
    the floor (a flat gray image)."""
    c, g, ch = r["ceiling"], r["floor"], r["chance"]
    out = [f"{r['model']}, {r['n']} private images; re-identification by {r['comparison']} "
           f"(chance top-1 {ch['reid_top1']:.4f}, top-5 {ch['reid_top5']:.4f}); attribute = {r['attribute']} "
           f"judged by {r['judge']} (chance {ch['attribute_accuracy']:.3f})",
           f"{'layer':<12} {'img_err':>7} {'PSNR':>6} {'SSIM':>6} {'reid@1':>7} {'reid@5':>7} {'attr':>6} {'utility':>7}"
           f"   | ceiling reid@1 {c['reid_top1']:.3f} attr {c['attribute_accuracy']:.3f};"
           f" floor reid@1 {g['reid_top1']:.4f} attr {g['attribute_accuracy']:.3f}"]
    rows = [(k, v, "") for k, v in r["layers"].items()]
    for k, v in r["layers"].items():
        rows += [(f"  {d['label']}", d, k) for d in v["defenses"]]
    rows.sort(key=lambda t: list(r["layers"]).index(t[2] or t[0]))
    for name, v, _ in rows:
        out.append(f"{name:<12} {v['image_error']:>7.3f} {v['psnr']:>6.2f} {v['ssim']:>6.3f} {v['reid_top1']:>7.3f} "
                   f"{v['reid_top5']:>7.3f} {v['attribute_accuracy']:>6.3f} {v['utility']:>7.3f}"
                   f"   | ceiling {c['reid_top1']:.3f} / {c['attribute_accuracy']:.3f}, floor {g['reid_top1']:.4f} / "
                   f"{g['attribute_accuracy']:.3f}")
    return out


@torch.no_grad()
def measure(info: ModelInfo, attackers: Sequence[Attacker], private: Items, judge_info: ModelInfo, defenses: Sequence[Defense] = (),
            seed: int = 0, batch: int = 250, workers: int = 0, show_examples: int = 6, skip_bad: bool = False,
            show: Optional[bool] = None) -> Leakage:
    """Measure what ``attackers`` recover from the embeddings of the ``private`` images (an
    :class:`~preimage.data.Items`; see the module)."""
    n = len(private)
    if n < 2:
        raise ConfigError(f"leakage needs at least 2 private images (re-identification picks one among them); got {n}")
    size = attackers[0].rep.input_size
    for a in attackers:
        if a.inverter.image_size != size:
            raise ConfigError(f"the inverter for {a.layer} makes {a.inverter.image_size} px images, the others {size} px")
    net = Classifier.from_info(info)
    judge = Classifier.from_info(judge_info)
    variants = [NONE] + list(defenses)
    t0 = time.perf_counter()
    # pass 1: the private images, decoded once and kept as uint8 (what re-identification compares with)
    originals = torch.zeros(n, 3, size, size, dtype=torch.uint8)
    readable = torch.zeros(n, dtype=torch.bool)
    stream = Stream(private, size, batch=batch, workers=workers, skip_bad=skip_bad, show=show,
                    desc="reading the private images")
    for idx, x in stream:
        originals[idx] = to_uint8(x)
        readable[idx] = True
    skipped = list(stream.skipped)
    if skipped:  # with --skip-bad: the unreadable ones leave the private set
        keep = readable.nonzero().flatten()
        private, originals = private.subset(keep.tolist()), originals[keep]
        n = len(private)
        if n < 2:
            raise ConfigError(f"only {n} of the private images can be read; leakage needs at least 2")
    truth = class_indices(private, info.classes)
    attr_truth = class_indices(private, judge_info.classes)
    # pass 2: per batch, every layer and defense decoded, scored and reduced
    tallies = {(a.layer, v): _Tally(n, originals) for a in attackers for v in variants}
    ceiling, floor = _Tally(n, originals), _Tally(n, originals)
    net_pred = torch.zeros(n, dtype=torch.long)
    code_size: Dict[str, int] = {}
    ex_idx = [(i * n) // show_examples for i in range(show_examples)] if n > show_examples else list(range(n))
    ex_rows: Dict[str, Dict[int, List[torch.Tensor]]] = {a.layer: {} for a in attackers}
    bar = progress.bar(total=n, desc=f"measuring leakage ({len(attackers)} layers x {len(variants)} codes)",
                       show=show, unit="img")
    gray = torch.full((1, 3, size, size), 0.5)
    for s in range(0, n, batch):
        idx = torch.arange(s, min(n, s + batch))
        x = originals[idx].float() / 255
        net_pred[idx] = net(x).argmax(1)
        ceiling.add(idx, x, x, judge(_fit(x, judge_info.input_size)).argmax(1), net_pred[idx], torch.zeros(len(idx)))
        g = gray.expand_as(x)
        floor.add(idx, g, x, judge(_fit(g, judge_info.input_size)).argmax(1), net_pred[idx], torch.zeros(len(idx)))
        for a in attackers:
            f = a.rep(x)
            code_size[a.layer] = int(f[0].numel())
            for v in variants:
                fd = v(f, idx, seed)
                rec = a.inverter(fd)
                with replace_output(info.module, a.rep.path, _constant(fd)):
                    util = net(x).argmax(1)
                attr = judge(_fit(rec, judge_info.input_size)).argmax(1)
                tallies[(a.layer, v)].add(idx, rec, x, attr, util, metrics.feature_error(fd, f))
                for j, i in enumerate(idx.tolist()):
                    if i in ex_idx:
                        ex_rows[a.layer].setdefault(i, [x[j]]).append(rec[j])
        bar.update(len(idx))
        release_memory()
    bar.close()
    y = truth if truth is not None else net_pred
    attr_y = attr_truth if attr_truth is not None else ceiling.cols["attribute"].long()
    majority = float(torch.bincount(attr_y).max()) / n
    top = ceiling.summary(attr_y, y)
    bottom = floor.summary(attr_y, y)
    record: Dict = {
        "model": info.name, "n": n, "judge": judge_info.name, "seed": seed, "skipped_unreadable": skipped,
        "image_size": size,
        "comparison": "pixel correlation (each image's mean removed, cosine similarity)",
        "attribute": "class (folder name)" if attr_truth is not None else f"{judge_info.name}'s prediction on the private image",
        "utility_labels": "class (folder name)" if truth is not None else f"{info.name}'s prediction on the private image",
        "attacker": "knows the network, holds public images only; decodes defended codes with the inverter trained "
                    "on clean codes (not adaptive)",
        "chance": {"reid_top1": 1 / n, "reid_top5": min(5, n) / n, "attribute_accuracy": majority},
        "ceiling": {"image_error": 0.0, "psnr": None, "ssim": 1.0, "reid_top1": top["reid_top1"],
                    "reid_top5": top["reid_top5"], "attribute_accuracy": top["attribute_accuracy"]},
        "floor": {k: bottom[k] for k in ("image_error", "psnr", "ssim", "reid_top1", "reid_top5", "attribute_accuracy")},
        "utility_clean": float((net_pred == y).float().mean()),
        "layers": {},
    }
    examples: Dict[str, List[List[torch.Tensor]]] = {}
    for a in attackers:
        entries = []
        for v in variants:
            entry = {"defense": v.kind, "strength": v.strength, "label": v.label,
                     **tallies[(a.layer, v)].summary(attr_y, y)}
            entries.append(entry)
        base = {k: entries[0][k] for k in ("image_error", "psnr", "ssim", "reid_top1", "reid_top5", "reid_mean_rank",
                                           "attribute_accuracy", "utility")}
        record["layers"][a.layer] = {
            "module": a.rep.path, "code_size": code_size.get(a.layer, 0),
            "inverter": {"source": a.source, "path": a.inverter.path, "trained_on": a.inverter.training.get("data"),
                         "steps": a.inverter.training.get("steps"),
                         "val_image_error": a.inverter.training.get("val_image_error")},
            **base, "defenses": entries[1:]}
        examples[a.layer] = [ex_rows[a.layer][i] for i in ex_idx if i in ex_rows[a.layer]]
    record["seconds"] = time.perf_counter() - t0
    return Leakage(record, examples)


def run_leakage(info: ModelInfo, layers: Sequence[str], private: str, public: Optional[str] = None, n: int = 1000,
                defenses: Sequence[Defense] = (), judge_info: Optional[ModelInfo] = None, steps: int = 3000, seed: int = 0,
                workers: int = 0, batch: int = 250, show: Optional[bool] = None, log=print,
                skip_bad: bool = False) -> Leakage:
    """Plan (refusing bad input before any work), train the missing inverters, measure; with
    ``skip_bad`` unreadable images are skipped (and counted in the record) instead of stopping the run."""
    if not layers:
        raise ConfigError("--layers names no layer")
    items = list_items(private)
    if len(items) < 2 or n < 2:
        raise ConfigError(f"leakage needs at least 2 private images; {private} has {len(items)}"
                          + (f" and --n is {n}" if n < 2 else ""))
    items = items.evenly_spaced(n)
    if judge_info is None:
        judge_info = load_model(default_judge(info))
    if judge_info.name == info.name:
        raise ConfigError(f"the judge of attribute leakage must be another network than the one attacked ({info.name})")
    planned = plan(info, layers, public)
    with tempfile.TemporaryDirectory(prefix="preimage-leakage-") as tmp:
        attackers = prepare(info, planned, public, steps, Path(tmp), seed, show, log, workers, skip_bad)
        result = measure(info, attackers, items, judge_info, defenses, seed, batch, workers, skip_bad=skip_bad, show=show)
        result.record.update({"private": str(private), "public": str(public) if public else None})
        for a in attackers:  # the trained inverters travel with the result (a few MB each)
            if a.source != "bundled" and a.inverter.path:
                p = Path(a.inverter.path)
                result.trained[p.name] = p.read_bytes()
                result.trained[p.name + ".json"] = p.with_name(p.name + ".json").read_bytes()
    return result
