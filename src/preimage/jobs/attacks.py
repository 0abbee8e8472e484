"""Adversarial-example jobs: ``attack`` (examples for images or a folder, with their outcome and
what the layers see in them), ``robustness`` (accuracy against the budget) and ``transfer`` (the
matrix between models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..attacks import Classifier, check_budget, fgsm, outcome, pgd, quantize
from ..data import Stream, class_indices, list_items
from ..errors import ConfigError, WeightsError
from ..images import encode_png, labels_for, load_image
from ..learned import decode, find_bundled
from ..models.loading import ModelInfo
from ..optimize import invert
from ..representations.cnn import CNNLayer
from ..results import Recorded, Shown


@dataclass(repr=False)
class Attack(Shown):
    """Adversarial examples and their outcome (a :class:`~preimage.results.Result`: one PNG per
    example; the report draws ``attack.png`` and, with ``decoded``, ``seen_by_LAYER.png``)."""

    command = "attack"

    sources: List[str]
    labels: List[str]
    x: torch.Tensor
    adv: torch.Tensor
    record: Dict
    classes: Optional[Sequence[str]]
    decoded: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # layer -> (clean, adversarial)

    def to_json(self) -> Dict:
        return self.record

    def files(self) -> Dict[str, bytes]:
        return {r["output"]: encode_png(a) for r, a in zip(self.record["images"], self.adv)}

    def lines(self) -> List[str]:
        rec = self.record
        out = [f"{rec['n']} images, {rec['method']} {rec['norm']} eps {rec['eps']:.5g}: success {rec['success_rate']:.3f} "
               f"(8-bit PNG: {rec['success_rate_8bit']:.3f})" + (f", clean accuracy {rec['clean_accuracy']:.3f}"
                                                                  if rec["clean_accuracy"] is not None else "")]
        out += [f"{lay['layer']:<10} code change {lay['code_change_mean']:.3f}  (decoded by {lay['decoded_by']})"
                for lay in rec.get("layers", [])]
        return out


def run_attack(info: ModelInfo, sources: Union[None, Sequence[str], torch.Tensor] = None, data: Optional[str] = None, n: int = 100,
               method: str = "pgd", norm: str = "inf", eps: float = 8 / 255, steps: int = 10,
               step_size: Optional[float] = None, target: Optional[int] = None, seed: int = 0,
               model: str = "", invert_layers: Sequence[str] = (), workers: int = 0, skip_bad: bool = False) -> Attack:
    if method not in ("fgsm", "pgd"):
        raise ConfigError(f"unknown method {method!r}; valid: fgsm, pgd")
    if method == "fgsm" and norm != "inf":
        raise ConfigError("FGSM is an L-infinity attack; use --norm inf or --method pgd")
    clf = Classifier.from_info(info)
    nc = clf.classes
    if target is not None and (nc is None or not 0 <= target < nc):
        raise ConfigError(f"--target {target} is out of range: {info.name} has "
                          f"{nc if nc is not None else 'an unknown number of'} classes")
    check_budget(eps, norm, (3, info.input_size, info.input_size))
    if sources is not None and data is not None:
        raise ConfigError("give images or --data DIR, not both")
    if sources is None and data is None:
        raise ConfigError("give images (files or sample:NAME) or --data DIR")
    truth = None
    if isinstance(sources, torch.Tensor):  # images in memory: (N, 3, H, W) in [0, 1]
        x, files = sources.detach().float().cpu(), [f"image{i}" for i in range(len(sources))]
    elif sources is not None:
        files = list(sources)
        x = torch.stack([load_image(f, info.input_size) for f in files])
    else:
        assert data is not None
        items = list_items(data).evenly_spaced(n)
        stream = Stream(items, info.input_size, 64, workers, skip_bad=skip_bad, show=False)
        batches = list(stream)
        if not batches:
            raise ConfigError(f"none of the {len(items)} images of {data} can be read")
        kept = torch.cat([i for i, _ in batches])
        x = torch.cat([b for _, b in batches])
        files = [items.name(int(i)) for i in kept]
        labels_all = class_indices(items, info.classes)
        truth = labels_all[kept] if labels_all is not None else None
    with torch.no_grad():
        predicted = clf(x).argmax(1)
    y = truth if truth is not None else predicted
    tgt = torch.full_like(y, target) if target is not None else None
    goal = tgt if tgt is not None else y
    if method == "fgsm":
        adv = fgsm(clf, x, goal, eps, targeted=tgt is not None)
    else:
        adv = pgd(clf, x, goal, eps, steps, step_size, norm, targeted=tgt is not None, seed=seed)
    o, o8 = outcome(clf, x, adv, y, tgt), outcome(clf, x, quantize(adv), y, tgt)
    labels = labels_for(files)
    recs = [{"input": f, "output": f"{i:03d}_{labels[i].replace('/', '_')}_adv.png", "label": int(y[i]),
             "label_source": "folder" if truth is not None else "clean prediction",
             "clean_label": int(o.clean_label[i]), "clean_confidence": float(o.clean_conf[i]),
             "adv_label": int(o.adv_label[i]), "adv_confidence": float(o.adv_conf[i]),
             "linf": float(o.linf[i]), "l2": float(o.l2[i]), "success": bool(o.success[i]),
             "adv_label_8bit": int(o8.adv_label[i]), "success_8bit": bool(o8.success[i])} for i, f in enumerate(files)]
    skipped = list(stream.skipped) if data is not None else []
    record = {"model": model or info.name, "method": method, "norm": norm, "eps": eps, "steps": steps if method == "pgd" else 1,
              "skipped_unreadable": skipped,
              "target": target, "seed": seed, "n": len(files), "success_rate": float(o.success.float().mean()),
              "success_rate_8bit": float(o8.success.float().mean()),
              "clean_accuracy": float((o.clean_label == y).float().mean()) if truth is not None else None,
              "images": recs}
    decoded: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}
    if invert_layers:
        seen = layers_see(info, x, adv, invert_layers, seed=seed)
        record["layers"] = seen["layers"]
        decoded = seen["decoded"]
    return Attack(files, labels, x, adv, record, info.classes, decoded)


def labeled_stream(info: ModelInfo, data: str, n: int, batch: int = 250, workers: int = 0, show: Optional[bool] = None,
                   desc: str = "reading images", skip_bad: bool = False) -> Tuple[Stream, torch.Tensor]:
    """(stream of ``n`` images evenly spaced over a folder or shards, their true labels), refused
    before any image is decoded unless every image's class is one of the model's."""
    items = list_items(data).evenly_spaced(n)
    y = class_indices(items, info.classes)
    if y is None:
        raise ConfigError(f"{data}: this needs true labels: class folders (or shard classes) named as the model's "
                          f"classes ({', '.join(info.classes or [])})")
    return Stream(items, info.input_size, batch, workers, skip_bad=skip_bad, show=show, desc=desc), y


@dataclass(repr=False)
class Robustness(Recorded):
    """Accuracy under PGD against the budget (a :class:`~preimage.results.Result`, ``robustness.json``;
    the report draws ``robustness.png``)."""

    command = "robustness"
    record_name = "robustness.json"

    record: Dict

    def lines(self) -> List[str]:
        return [f"eps {e:.5f}  accuracy {acc:.3f}" for e, acc in zip(self.record["eps"], self.record["accuracy"])]


@dataclass(repr=False)
class Transfer(Recorded):
    """The transfer matrix (a :class:`~preimage.results.Result`, ``transfer.json`` and ``transfer.txt``;
    the report draws ``transfer.png``)."""

    command = "transfer"
    record_name = "transfer.json"

    record: Dict

    def table(self) -> List[str]:
        names, t = self.record["models"], self.record
        head = "made on / tested on"
        w = max(max(len(n) for n in names), len(head) - 4)
        out = [f"fooled rate ({t['method']}, L-inf eps {t['eps']:.5g}, {t['n']} images): the fraction of the examples made "
               f"on the row's model that the column's model misclassifies",
               f"{head:<{w + 4}}" + "".join(f"{n:>{w + 2}}" for n in names)]
        out += [f"{src:<{w + 4}}" + "".join(f"{v:>{w + 2}.3f}" for v in row) for src, row in zip(names, t["matrix"])]
        return out

    def files(self) -> Dict[str, bytes]:
        return {"transfer.txt": ("\n".join(self.table()) + "\n").encode()}

    def lines(self) -> List[str]:
        return self.table()


def robustness(info: ModelInfo, data: str, eps_list: Sequence[float], n: int = 1000, steps: int = 10, norm: str = "inf",
               seed: int = 0, show: Optional[bool] = None, workers: int = 0, skip_bad: bool = False) -> Robustness:
    """Accuracy under PGD at each budget (eps 0: clean accuracy), streamed in batches of 250."""
    if not eps_list:
        raise ConfigError("--eps names no budget")
    for eps in eps_list:
        check_budget(eps, norm, (3, info.input_size, info.input_size))
    clf = Classifier.from_info(info)
    stream, y = labeled_stream(info, data, n, workers=workers, show=show, desc="robustness", skip_bad=skip_bad)
    correct = torch.zeros(len(eps_list))
    seen = 0
    for idx, x in stream:
        seen += len(idx)
        yb = y[idx]
        for k, eps in enumerate(eps_list):
            adv = x if eps == 0 else pgd(clf, x, yb, eps, steps, norm=norm, seed=seed)
            with torch.no_grad():
                correct[k] += float((clf(adv).argmax(1) == yb).sum())
    if not seen:
        raise ConfigError(f"none of the images of {data} can be read")
    acc = (correct / seen).tolist()
    return Robustness({"model": info.name, "n": seen, "skipped_unreadable": list(stream.skipped), "norm": norm,
                       "steps": steps, "eps": list(eps_list), "accuracy": acc})


def transfer(infos: Sequence[ModelInfo], names: Sequence[str], data: str, eps: float, n: int = 1000, steps: int = 10,
             method: str = "pgd", seed: int = 0, show: Optional[bool] = None, workers: int = 0,
             skip_bad: bool = False) -> Transfer:
    """Rows: the model the examples were made on; columns: the model they are tested on; each cell
    the fraction of examples that fool the target (its prediction differs from the true label).
    Streamed in batches of 250."""
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"--models needs at least two different models, got {', '.join(names) or 'none'}")
    sizes = {i.input_size for i in infos}
    if len(sizes) != 1:
        raise ConfigError("the models take inputs of different sizes ("
                          + ", ".join(f"{nm}: {i.input_size}" for nm, i in zip(names, infos)) + "); transfer needs one size")
    check_budget(eps, "inf", (3, infos[0].input_size, infos[0].input_size))
    clfs = [Classifier.from_info(i) for i in infos]
    stream, y = labeled_stream(infos[0], data, n, workers=workers, show=show, desc="transfer", skip_bad=skip_bad)
    fooled = torch.zeros(len(clfs), len(clfs))
    seen = 0
    for idx, x in stream:
        seen += len(idx)
        yb = y[idx]
        for r, src in enumerate(clfs):
            adv = fgsm(src, x, yb, eps) if method == "fgsm" else pgd(src, x, yb, eps, steps, seed=seed)
            with torch.no_grad():
                for c, tgt in enumerate(clfs):
                    fooled[r, c] += float((tgt(adv).argmax(1) != yb).sum())
    if not seen:
        raise ConfigError(f"none of the images of {data} can be read")
    matrix = (fooled / seen).tolist()
    return Transfer({"models": list(names), "eps": eps, "norm": "inf", "method": method, "n": seen, "steps": steps,
                     "skipped_unreadable": list(stream.skipped),
                     "metric": "fooled rate: the fraction of the examples made on the row's model (PGD or FGSM, L-inf "
                               "budget eps) that the column's model misclassifies (prediction differs from the true label)",
                     "matrix": matrix})


def layers_see(info: ModelInfo, x: torch.Tensor, adv: torch.Tensor, layers: Sequence[str],
               iters: int = 100, seed: int = 0) -> Dict:
    """What the layers see in adversarial images: per layer, the relative change of the code
    ``||Phi(x_adv) - Phi(x)|| / ||Phi(x)||`` (per image and mean), and the clean and adversarial codes
    decoded - by the bundled trained inverter where one fits, else by optimization (default preset,
    ``iters`` iterations). Returns ``{"layers": [...], "decoded": {layer: (clean images, adversarial
    images)}}``."""
    out: Dict = {"layers": [], "decoded": {}}
    for layer in layers:
        rep = CNNLayer.from_info(info, layer)
        with torch.no_grad():
            f0, f1 = rep(x), rep(adv)
        change = ((f1 - f0).flatten(1).norm(dim=1) / f0.flatten(1).norm(dim=1).clamp_min(1e-12))
        try:
            inv = find_bundled(rep, x.shape[-1])
            clean, dirty = decode(rep, inv, target=f0).images[:, 0], decode(rep, inv, target=f1).images[:, 0]
            how = f"trained inverter {Path(inv.path or '').name}"
        except WeightsError:
            hw = (int(x.shape[-2]), int(x.shape[-1]))
            clean = invert(rep, target=f0, size=hw, iters=iters, seed=seed, show=False, converge=False).images[:, 0]
            dirty = invert(rep, target=f1, size=hw, iters=iters, seed=seed, show=False, converge=False).images[:, 0]
            how = f"optimization, default preset, {iters} iterations"
        out["decoded"][layer] = (clean, dirty)
        out["layers"].append({"layer": layer, "decoded_by": how, "code_change": [float(v) for v in change],
                              "code_change_mean": float(change.mean())})
    return out
