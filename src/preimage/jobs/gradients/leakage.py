"""The ``gradient-leakage`` job: what an honest-but-curious server rebuilds from one client's update.

The threat model. A client of federated learning holds ``N`` private images with their labels and,
for each batch of ``B`` of them, sends the server its update (:class:`~.client.Client`: the gradient,
or the weight difference after ``S`` local steps), possibly through a defense (:mod:`.defenses`). The
server knows the network (and the local learning rate and steps) and sees one update at a time. It
recovers the batch's labels from the last layer (:func:`~.attacks.recover_labels`), then images whose
update matches the one it received (:func:`~.attacks.attack`). Per private image this job measures,
after pairing each reconstruction with its true image (:func:`~.measures.match`):

* PSNR and SSIM against the private image;
* re-identification: the rank of the true image among the ``N`` private ones by pixel correlation
  with the reconstruction (chance: top-1 ``1/N``);
* label recovery: the share of the batch's labels recovered (as multisets);

beside the floor of a flat gray image (which carries no information) and, per defense, its utility:
the test accuracy of a small model trained with that defense on public images
(:mod:`.utility`), against the same training without it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ... import progress
from ...data import Items, class_indices, list_items
from ...errors import ConfigError, ImageError
from ...images import encode_png
from ...keys import keyed
from ...models.info import ModelInfo
from ...results import Shown
from .attacks import AttackSettings, attack, recover_labels
from .client import Client, PerExample
from .defenses import NONE, Defense
from .measures import Reidentify, label_hits, match, scores
from .utility import UtilitySettings, load_public, utilities

#: an attack is "at the floor" when its mean PSNR is within this many dB of the gray image's and its
#: re-identification top-1 at most twice chance
FLOOR_MARGIN_DB = 1.0


def private_labels(items: Items, info: ModelInfo, classes: int) -> Tuple[torch.Tensor, str]:
    """Each private image's class index: its folder's name among the model's classes (or, for a model
    that names none, the folders' names in sorted order); one clear error otherwise."""
    names = items.labels()
    if any(v is None for v in names):
        raise ConfigError(f"the client's loss needs each private image's label: put the images in class folders "
                          f"(root/<class>/...){' named after ' + info.name + chr(39) + 's classes' if info.classes else ''}")
    if info.classes:
        y = class_indices(items, info.classes)
        if y is None:
            known = set(info.classes)
            unknown = sorted({str(v) for v in names if v not in known and not (str(v).isdigit() and int(str(v)) < len(known))})
            raise ConfigError(f"private class folder(s) {', '.join(unknown[:5])} are not among {info.name}'s classes "
                              f"({', '.join(info.classes[:10])}{', ...' if len(info.classes) > 10 else ''})")
        return y, f"class folders matched to {info.name}'s class names"
    table = sorted({str(v) for v in names})
    if len(table) > classes:
        raise ConfigError(f"{info.name} names no classes and has {classes} outputs; the private folder has {len(table)} "
                          f"class folders")
    where = {c: i for i, c in enumerate(table)}
    return torch.tensor([where[str(v)] for v in names]), "class folders in sorted order (the model names no classes)"


@dataclass(repr=False)
class GradientLeakage(Shown):
    """The measured record, the private images and every reconstruction (a
    :class:`~preimage.results.Result` recorded as ``gradient_leakage.json``; the report draws the
    figure and ``gradient_leakage.html``; :meth:`files` writes the reconstructions as PNGs)."""

    command = "gradient-leakage"
    record_name = "gradient_leakage.json"

    record: Dict
    originals: torch.Tensor
    reconstructions: Dict[str, torch.Tensor] = field(default_factory=dict)   # variant key -> (N, 3, H, W)

    def to_json(self) -> Dict:
        return self.record

    def files(self) -> Dict[str, bytes]:
        names = [row["file"] for row in self.record["variants"][0]["images"]] if self.record["variants"] else []
        return {f"reconstructions/{key}/{i:04d}_{names[i]}.png": encode_png(img)
                for key, recs in self.reconstructions.items() for i, img in enumerate(recs)}

    def lines(self) -> List[str]:
        return table_lines(self.record)


def table_lines(r: Dict) -> List[str]:
    g, c = r["floor"], r["chance"]
    a = r["attack"]
    out = [f"{r['model']}: {r['n']} private images in batches of {r['batch_size']}, "
           f"{'gradient' if r['client']['local_steps'] == 1 else str(r['client']['local_steps']) + ' local steps'}, "
           f"attack {a['method']} ({a['iters']} iters x {a['restarts']} restart(s)), labels {a['labels']}; "
           f"re-identification chance top-1 {c['reid_top1']:.3f}",
           f"{'defense':<22} {'PSNR':>6} {'SSIM':>6} {'reid@1':>7} {'labels':>7} {'utility':>8}"]
    for v in r["variants"]:
        util = "" if v.get("utility") is None else f"{v['utility']:.3f}"
        out.append(f"{v['label']:<22} {v['psnr']:>6.2f} {v['ssim']:>6.3f} {v['reid_top1']:>7.3f} {v['label_rate']:>7.3f} "
                   f"{util:>8}")
    out.append(f"{'flat gray (floor)':<22} {g['psnr']:>6.2f} {g['ssim']:>6.3f} {g['reid_top1']:>7.3f} "
               f"{c['label_rate']:>7.3f} {'':>8}")
    return out


def _relative_change(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> float:
    num = sum(float((x.double() - y.double()).pow(2).sum()) for x, y in zip(a, b))
    den = sum(float(y.double().pow(2).sum()) for y in b)
    return math.sqrt(num / den) if den > 0 else 0.0


def run_gradient_leakage(info: ModelInfo, private: str, n: int = 8, batch_size: int = 1,
                         settings: AttackSettings = AttackSettings(), local_steps: int = 1, local_lr: float = 1e-4,
                         bn: str = "eval", defenses: Sequence[Defense] = (), public: Optional[str] = None,
                         utility: UtilitySettings = UtilitySettings(), seed: int = 0, workers: int = 0,
                         show: Optional[bool] = None, log: Callable[[str], None] = print,
                         skip_bad: bool = False) -> GradientLeakage:
    """Attack the updates of ``n`` private images (evenly spaced in name order) in batches of
    ``batch_size``, without and with each defense; see the module. Every check comes before any work;
    with ``skip_bad`` unreadable private images are left out (and counted in the record)."""
    settings = settings.check()
    client = Client(info, bn, local_steps, local_lr)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    items = list_items(private)
    if len(items) < batch_size or n < batch_size:
        raise ConfigError(f"--batch-size {batch_size} is larger than the {min(len(items), n)} private images "
                          f"({len(items)} in {private}, --n {n})")
    items = items.evenly_spaced(n)
    size = info.input_size
    pictures: List[torch.Tensor] = []
    readable: List[int] = []
    skipped: List[str] = []
    for i in range(len(items)):  # decoded once, here: an unreadable image stops the run or, with skip_bad, leaves
        try:
            pictures.append(items.load(i, size))
            readable.append(i)
        except ImageError:
            if not skip_bad:
                raise
            skipped.append(items.name(i))
    items = items.subset(readable)
    if len(items) < batch_size:
        raise ConfigError(f"--batch-size {batch_size} is larger than the {len(items)} readable private images")
    batches = len(items) // batch_size
    if batches * batch_size < len(items):
        log(f"using {batches * batch_size} of the {len(items)} private images (whole batches of {batch_size})")
        items = items.subset(range(batches * batch_size))
    n = len(items)
    k = client.classes()
    y_all, label_source = private_labels(items, info, k)
    class_names = list(info.classes) if info.classes else sorted({str(v) for v in items.labels()})
    if settings.labels == "recovered":
        client.head()
    per = PerExample(client.net, client.names, bn) if any(d.kind == "dpsgd" for d in defenses) else None
    public_data = load_public(public, utility.check(), workers) if public else None
    originals = torch.stack(pictures[:n])
    device = client.params[0].device
    t0 = time.perf_counter()

    variants: List[Defense] = [NONE, *defenses]
    reid = Reidentify(originals)
    recs = {v.key: torch.zeros_like(originals) for v in variants}
    rows: Dict[str, List[Dict[str, Any]]] = {v.key: [] for v in variants}
    stats: Dict[str, Dict[str, float]] = {v.key: {"hits": 0, "loss": 0.0, "iterations": 0, "seconds": 0.0, "change": 0.0}
                                          for v in variants}
    per_batch = settings.iters * settings.restarts
    bar = progress.bar(total=batches * len(variants) * per_batch, unit="it",
                       desc=f"gradient leakage ({n} images, B={batch_size}, {len(variants)} updates each)", show=show)
    for b in range(batches):
        idx = torch.arange(b * batch_size, (b + 1) * batch_size)
        x, y = originals[idx].to(device), y_all[idx].to(device)
        clean = client.shared(x, y)
        for v in variants:
            step = None
            if v.kind == "dpsgd":
                assert per is not None

                def step(xs, ys, params, s, v=v, b=b):
                    return v.privatize(per(params, xs, ys), keyed(seed, "dpsgd", v.key, b, s))
            shared = clean if step is None else client.shared(x, y, step=step)
            shared = v.perturb(shared, keyed(seed, "gradient-defense", v.key, b))
            labels: Optional[torch.Tensor]
            if settings.labels == "recovered":
                labels = torch.tensor(recover_labels(shared, client, batch_size), device=device)
            elif settings.labels == "true":
                labels = y
            else:
                labels = None
            a = attack(client, shared, labels, idx.tolist(), size, settings, seed, k, bar.update)
            guessed = labels if labels is not None else a.soft.argmax(1)  # type: ignore[union-attr]
            order = match(a.images, x)
            rec = a.images[order].cpu()
            guessed = guessed[order].cpu()
            recs[v.key][idx] = rec
            sc = scores(rec, originals[idx])
            ri = reid(rec, idx)
            st = stats[v.key]
            st["hits"] += label_hits(guessed.tolist(), y.tolist())
            st["loss"] += a.loss
            st["iterations"] += a.iterations
            st["seconds"] += a.seconds
            st["change"] += _relative_change(shared, clean)
            for j, i in enumerate(idx.tolist()):
                rows[v.key].append({"index": i, "file": items.name(i).replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0],
                                    "label": int(y[j]), "recovered_label": int(guessed[j]), "batch": b,
                                    "psnr": float(sc["psnr"][j]), "ssim": float(sc["ssim"][j]),
                                    "reid_rank": float(ri["rank"][j]), "reid_top1": float(ri["top1"][j]),
                                    "reid_top5": float(ri["top5"][j])})
    bar.close()
    attack_seconds = time.perf_counter() - t0

    util = None
    if public_data is not None:
        util = utilities(variants, public_data, utility, seed, show)

    gray = torch.full_like(originals, 0.5)
    gs = scores(gray, originals)
    gr = reid(gray, torch.arange(n))
    floor = {"psnr": float(gs["psnr"].mean()), "ssim": float(gs["ssim"].mean()), "reid_top1": float(gr["top1"].mean()),
             "reid_top5": float(gr["top5"].mean()), "reid_mean_rank": float(gr["rank"].mean())}
    entries = []
    for v in variants:
        rs, st = rows[v.key], stats[v.key]
        entry: Dict[str, Any] = {**v.to_json(), "key": v.key}
        entry.update({
            "psnr": _mean(rs, "psnr"), "ssim": _mean(rs, "ssim"), "reid_top1": _mean(rs, "reid_top1"),
            "reid_top5": _mean(rs, "reid_top5"), "reid_mean_rank": _mean(rs, "reid_rank"),
            "label_rate": st["hits"] / n, "gradient_distance": st["loss"] / batches,
            "update_change": st["change"] / batches,
            "at_floor": _mean(rs, "psnr") <= floor["psnr"] + FLOOR_MARGIN_DB and _mean(rs, "reid_top1") <= 2 / n,
            "attack_seconds": st["seconds"], "iterations_per_second": st["iterations"] / max(st["seconds"], 1e-9),
            "utility": None if util is None else util[v.key]["accuracy"],
            "images": rs})
        if util is not None and "per_example" in util[v.key]:
            entry["utility_per_example"] = util[v.key]["per_example"]
        entries.append(entry)
    record: Dict[str, Any] = {
        "model": info.name, "private": str(private), "n": n, "skipped_unreadable": skipped, "batch_size": batch_size,
        "batches": batches,
        "image_size": size, "seed": seed, "classes": k, "class_names": class_names,
        "client": {"local_steps": client.local_steps, "local_lr": client.local_lr if client.local_steps > 1 else None,
                   "shares": "the gradient of the mean cross-entropy over the batch" if client.local_steps == 1 else
                   f"the weight difference after {client.local_steps} full-batch SGD steps at lr {client.local_lr:g} (FedAvg)",
                   "bn": bn, "has_batchnorm": client.batchnorm,
                   "bn_meaning": "running statistics" if bn == "eval" else "each batch's own statistics (running "
                                 "statistics not updated)", "labels": label_source,
                   "per_example": per.backend if per is not None else None},
        "attack": {**settings.to_json(), "label_rule": label_rule(settings.labels, batch_size),
                   "restart_keys": "keys.keyed(seed, 'gradient-start', image index, restart)",
                   "matching": "assignment minimizing the total mean squared error (scipy linear_sum_assignment)",
                   "adaptive": False},
        "floor": floor, "floor_margin_db": FLOOR_MARGIN_DB,
        "at_floor_means": f"mean PSNR within {FLOOR_MARGIN_DB:g} dB of the flat gray image's and re-identification "
                          f"top-1 at most twice chance",
        "chance": {"reid_top1": 1 / n, "reid_top5": min(5, n) / n, "label_rate": 1 / k},
        "comparison": "pixel correlation (each image's mean removed, cosine similarity)",
        "utility": None if util is None else {**utility.to_json(), "public": str(public),
                                              "classes": len(public_data.classes) if public_data else None},
        "variants": entries, "attack_seconds": attack_seconds, "seconds": time.perf_counter() - t0,
        "seconds_per_image": attack_seconds / (n * len(variants)),
    }
    return GradientLeakage(record, originals, recs)


def label_rule(labels: str, batch_size: int) -> str:
    if labels == "true":
        return "none: the attacker is given the true labels"
    if labels == "optimize":
        return "none: soft labels optimized with the images (DLG); scored by their largest entry"
    if batch_size == 1:
        return "iDLG: the last layer's weight-gradient row with the most negative sum"
    return ("count rule: classes whose last-layer weight-gradient row has a negative entry are present; the remaining "
            "slots by the magnitude of the bias gradient (the rows' sums without a bias)")


def _mean(rows: List[Dict[str, Any]], key: str) -> float:
    return sum(float(r[key]) for r in rows) / len(rows) if rows else float("nan")
