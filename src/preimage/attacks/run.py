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
    layer_figures: Optional[Dict[str, bytes]] = None

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
            for layer, png in (self.layer_figures or {}).items():
                (d / f"seen_by_{layer.replace('.', '_')}.png").write_bytes(png)
            (d / "results.json").write_text(json.dumps(self.record, indent=2) + "\n")


def run_attack(info, sources: Optional[Sequence[str]] = None, data: Optional[str] = None, n: int = 100,
               method: str = "pgd", norm: str = "inf", eps: float = 8 / 255, steps: int = 10,
               step_size: Optional[float] = None, target: Optional[int] = None, seed: int = 0,
               model: str = "", invert_layers: Sequence[str] = ()) -> Attack:
    from ..data import folder_images
    from ..images import load_image
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
        x = torch.stack([load_image(f, info.input_size) for f in files])
    else:
        assert data is not None
        paths, x = folder_images(data, n, info.input_size)
        files = [str(f) for f in paths]
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
    figures = None
    if invert_layers:
        seen = layers_see(info, x, adv, invert_layers, labels, seed=seed)
        record["layers"] = seen["layers"]
        figures = seen["figures"]
    return Attack(files, labels, x, adv, record, info.classes, figures)


def folder_batch(info, data: str, n: int):
    """(files, images, true labels) of ``n`` images evenly spaced over ``root/<class>/`` folders."""
    from ..images import list_images, load_image
    from ..learned.data import evenly_spaced

    files = evenly_spaced(list_images(data, recursive=True), n)
    y = _labels_from_folders(files, info.classes)
    if y is None:  # refused before any image is decoded
        raise ConfigError(f"{data}: robustness needs true labels: class folders named as the model's classes "
                          f"({', '.join(info.classes or [])})")
    return [str(f) for f in files], torch.stack([load_image(f, info.input_size) for f in files]), y


def _in_batches(fn, x: torch.Tensor, y: torch.Tensor, batch: int = 250) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch], y[i:i + batch]) for i in range(0, len(x), batch)])


def robustness(info, data: str, eps_list: Sequence[float], n: int = 1000, steps: int = 10, norm: str = "inf",
               seed: int = 0, show: Optional[bool] = None) -> Dict:
    """Accuracy under PGD at each budget (eps 0: clean accuracy)."""
    from .. import progress

    clf = Classifier.from_info(info)
    files, x, y = folder_batch(info, data, n)
    acc = []
    for eps in progress.bar(list(eps_list), desc="robustness", show=show, unit="eps"):
        if eps == 0:
            adv = x
        else:
            adv = _in_batches(lambda a, b, e=eps: pgd(clf, a, b, e, steps, norm=norm, seed=seed), x, y)
        with torch.no_grad():
            pred = torch.cat([clf(adv[i:i + 500]).argmax(1) for i in range(0, len(adv), 500)])
        acc.append(float((pred == y).float().mean()))
    return {"model": info.name, "n": len(files), "norm": norm, "steps": steps, "eps": list(eps_list), "accuracy": acc}


def transfer(infos: Sequence, names: Sequence[str], data: str, eps: float, n: int = 1000, steps: int = 10,
             method: str = "pgd", seed: int = 0, show: Optional[bool] = None) -> Dict:
    """Rows: the model the examples were made on; columns: the model they are tested on; each cell
    the fraction of examples that fool the target (its prediction differs from the true label)."""
    from .. import progress

    sizes = {i.input_size for i in infos}
    if len(sizes) != 1:
        raise ConfigError("the models take inputs of different sizes ("
                          + ", ".join(f"{nm}: {i.input_size}" for nm, i in zip(names, infos)) + "); transfer needs one size")
    clfs = [Classifier.from_info(i) for i in infos]
    files, x, y = folder_batch(infos[0], data, n)
    matrix = []
    for src in progress.bar(clfs, desc="transfer", show=show, unit="model"):
        if method == "fgsm":
            adv = _in_batches(lambda a, b, m=src: fgsm(m, a, b, eps), x, y)
        else:
            adv = _in_batches(lambda a, b, m=src: pgd(m, a, b, eps, steps, seed=seed), x, y)
        row = []
        with torch.no_grad():
            for tgt in clfs:
                pred = torch.cat([tgt(adv[i:i + 500]).argmax(1) for i in range(0, len(adv), 500)])
                row.append(float((pred != y).float().mean()))
        matrix.append(row)
    return {"models": list(names), "eps": eps, "method": method, "n": len(files), "steps": steps, "matrix": matrix}


def robustness_plot(r: Dict) -> bytes:
    from ..report.html import line_plot

    return line_plot([f"{e * 255:.3g}/255" if r["norm"] == "inf" else f"{e:.3g}" for e in r["eps"]],
                     {f"{r['model']} accuracy under PGD-{r['steps']}": r["accuracy"]}, "accuracy",
                     f"{r['model']}: accuracy against the budget ({r['n']} images)")


def transfer_heatmap(t: Dict) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    m = t["matrix"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(m), 1.2 + 1.1 * len(m)), dpi=110)
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(len(m)), t["models"], rotation=20)
    ax.set_yticks(range(len(m)), t["models"])
    ax.set_xlabel("tested on")
    ax.set_ylabel("made on")
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.6 else "black")
    ax.set_title(f"fooled, {t['method']} eps {t['eps'] * 255:.3g}/255")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def layers_see(info, x: torch.Tensor, adv: torch.Tensor, layers: Sequence[str], labels: Sequence[str],
               iters: int = 100, seed: int = 0) -> Dict:
    """What the layers see in adversarial images: per layer, the relative change of the code
    ``||Phi(x_adv) - Phi(x)|| / ||Phi(x)||`` (per image and mean), and the clean and adversarial codes
    decoded side by side - by the bundled trained inverter where one fits, else by optimisation
    (default preset, ``iters`` iterations). Returns ``{"layers": [...], "figures": {layer: png},
    "decoded": {layer: (clean images, adversarial images)}}``."""
    from ..errors import WeightsError
    from ..images import encode_png
    from ..learned import decode, find_bundled
    from ..optimize import invert
    from ..report import grid
    from ..representations import CNNLayer

    out: Dict = {"layers": [], "figures": {}, "decoded": {}}
    for layer in layers:
        rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, info.input_size,
                       name=f"{info.name}/{layer}")
        with torch.no_grad():
            f0, f1 = rep(x), rep(adv)
        change = ((f1 - f0).flatten(1).norm(dim=1) / f0.flatten(1).norm(dim=1).clamp_min(1e-12))
        try:
            inv = find_bundled(rep, x.shape[-1])
            clean, dirty = decode(rep, inv, target=f0).images[:, 0], decode(rep, inv, target=f1).images[:, 0]
            how = f"trained inverter {Path(inv.path or '').name}"
        except WeightsError:
            hw = (int(x.shape[-2]), int(x.shape[-1]))
            clean = invert(rep, target=f0, size=hw, iters=iters, seed=seed, show=False).images[:, 0]
            dirty = invert(rep, target=f1, size=hw, iters=iters, seed=seed, show=False).images[:, 0]
            how = f"optimisation, default preset, {iters} iterations"
        rows = [[x[i], adv[i], clean[i], dirty[i]] for i in range(min(6, len(x)))]
        out["figures"][layer] = encode_png(grid(rows, ["clean", "adversarial", f"clean code decoded ({layer})",
                                                       f"adversarial code decoded ({layer})"],
                                                list(labels)[:len(rows)], min_side=96))
        out["decoded"][layer] = (clean, dirty)
        out["layers"].append({"layer": layer, "decoded_by": how, "code_change": [float(v) for v in change],
                              "code_change_mean": float(change.mean())})
    return out
