"""The ``attack`` job: adversarial examples for images or a folder, saved with their outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from .. import _io
from ..errors import ConfigError
from . import Classifier, fgsm, outcome, pgd, quantise


def _labels_from_folders(files: Sequence[Path], classes: Optional[Sequence[str]]) -> Optional[torch.Tensor]:
    """True labels from ``root/<class>/file`` when the folder names are the model's classes."""
    if not classes:
        return None
    index = {c: i for i, c in enumerate(classes)}
    names = [Path(f).parent.name for f in files]
    if not all(n in index for n in names):
        return None
    return torch.tensor([index[n] for n in names])


@dataclass
class Attack:
    sources: List[str]
    labels: List[str]
    x: torch.Tensor
    adv: torch.Tensor
    record: Dict
    classes: Optional[Sequence[str]]

    def figure(self, show: int = 8) -> bytes:
        from ..images import encode_png
        from ..report import grid

        rows, labels = [], []

        def name(i: int) -> str:
            return self.classes[i] if self.classes else str(i)
        for i, r in enumerate(self.record["images"][:show]):
            diff = (self.adv[i] - self.x[i])
            amp = (0.5 + diff / (2 * diff.abs().max().clamp_min(1e-12))).clamp(0, 1)
            rows.append([self.x[i], self.adv[i], amp])
            labels.append(f"{self.labels[i]}: {name(r['clean_label'])} {r['clean_confidence']:.2f} -> "
                          f"{name(r['adv_label'])} {r['adv_confidence']:.2f}")
        return encode_png(grid(rows, ["clean", "adversarial", "difference (amplified)"], labels, min_side=96))

    def save(self, out, force: bool = False) -> None:
        from ..images import encode_png

        with _io.StagedDir(out, command="attack", force=force) as d:
            for r, a in zip(self.record["images"], self.adv):
                (d / r["output"]).write_bytes(encode_png(a))
            (d / "attack.png").write_bytes(self.figure())
            (d / "results.json").write_text(json.dumps(self.record, indent=2) + "\n")


def run_attack(info, sources: Optional[Sequence[str]] = None, data: Optional[str] = None, n: int = 100,
               method: str = "pgd", norm: str = "inf", eps: float = 8 / 255, steps: int = 10,
               step_size: Optional[float] = None, target: Optional[int] = None, seed: int = 0,
               model: str = "") -> Attack:
    from ..images import list_images, load_image
    from ..learned.data import evenly_spaced
    from ..reconstruct import labels_for

    if method not in ("fgsm", "pgd"):
        raise ConfigError(f"unknown method {method!r}; valid: fgsm, pgd")
    if method == "fgsm" and norm != "inf":
        raise ConfigError("FGSM is an L-infinity attack; use --norm inf or --method pgd")
    clf = Classifier.from_info(info)
    nc = clf.classes
    if target is not None and (nc is None or not 0 <= target < nc):
        raise ConfigError(f"--target {target} is out of range: {info.name} has "
                          f"{nc if nc is not None else 'an unknown number of'} classes")
    if (sources is None) == (data is None):
        raise ConfigError("give images or --data DIR")
    if sources is not None:
        files = list(sources)
    else:
        assert data is not None
        files = [str(f) for f in evenly_spaced(list_images(data, recursive=True), n)]
    x = torch.stack([load_image(f, info.input_size) for f in files])
    with torch.no_grad():
        predicted = clf(x).argmax(1)
    truth = _labels_from_folders([Path(f) for f in files], info.classes) if data is not None else None
    y = truth if truth is not None else predicted
    tgt = torch.full_like(y, target) if target is not None else None
    goal = tgt if tgt is not None else y
    if method == "fgsm":
        adv = fgsm(clf, x, goal, eps, targeted=tgt is not None)
    else:
        adv = pgd(clf, x, goal, eps, steps, step_size, norm, targeted=tgt is not None, seed=seed)
    o, o8 = outcome(clf, x, adv, y, tgt), outcome(clf, x, quantise(adv), y, tgt)
    labels = labels_for(files)
    recs = [{"input": f, "output": f"{i:03d}_{labels[i].replace('/', '_')}_adv.png", "label": int(y[i]),
             "label_source": "folder" if truth is not None else "clean prediction",
             "clean_label": int(o.clean_label[i]), "clean_confidence": float(o.clean_conf[i]),
             "adv_label": int(o.adv_label[i]), "adv_confidence": float(o.adv_conf[i]),
             "linf": float(o.linf[i]), "l2": float(o.l2[i]), "success": bool(o.success[i]),
             "adv_label_8bit": int(o8.adv_label[i]), "success_8bit": bool(o8.success[i])} for i, f in enumerate(files)]
    record = {"model": model or info.name, "method": method, "norm": norm, "eps": eps, "steps": steps if method == "pgd" else 1,
              "target": target, "seed": seed, "n": len(files), "success_rate": float(o.success.float().mean()),
              "success_rate_8bit": float(o8.success.float().mean()),
              "clean_accuracy": float((o.clean_label == y).float().mean()) if truth is not None else None,
              "images": recs}
    return Attack(files, labels, x, adv, record, info.classes)
