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
    from ..data import Stream, class_indices, list_items
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
    truth = None
    if sources is not None:
        files = list(sources)
        x = torch.stack([load_image(f, info.input_size) for f in files])
    else:
        assert data is not None
        items = list_items(data).evenly_spaced(n)
        files = list(items.names)
        x = torch.cat([b for _, b in Stream(items, info.input_size, 64, show=False)])
        truth = class_indices(items, info.classes)
    with torch.no_grad():
        predicted = clf(x).argmax(1)
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


def labelled_stream(info, data: str, n: int, batch: int = 250, workers: int = 0, show: Optional[bool] = None,
                    desc: str = "reading images"):
    """(stream of ``n`` images evenly spaced over a folder or shards, their true labels), refused
    before any image is decoded unless every image's class is one of the model's."""
    from ..data import Stream, class_indices, list_items

    items = list_items(data).evenly_spaced(n)
    y = class_indices(items, info.classes)
    if y is None:
        raise ConfigError(f"{data}: this needs true labels: class folders (or shard classes) named as the model's "
                          f"classes ({', '.join(info.classes or [])})")
    return Stream(items, info.input_size, batch, workers, show=show, desc=desc), y


def robustness(info, data: str, eps_list: Sequence[float], n: int = 1000, steps: int = 10, norm: str = "inf",
               seed: int = 0, show: Optional[bool] = None, workers: int = 0) -> Dict:
    """Accuracy under PGD at each budget (eps 0: clean accuracy), streamed in batches of 250."""
    clf = Classifier.from_info(info)
    stream, y = labelled_stream(info, data, n, workers=workers, show=show, desc="robustness")
    correct = torch.zeros(len(eps_list))
    for idx, x in stream:
        yb = y[idx]
        for k, eps in enumerate(eps_list):
            adv = x if eps == 0 else pgd(clf, x, yb, eps, steps, norm=norm, seed=seed)
            with torch.no_grad():
                correct[k] += float((clf(adv).argmax(1) == yb).sum())
    acc = (correct / len(y)).tolist()
    return {"model": info.name, "n": len(y), "norm": norm, "steps": steps, "eps": list(eps_list), "accuracy": acc}


def transfer(infos: Sequence, names: Sequence[str], data: str, eps: float, n: int = 1000, steps: int = 10,
             method: str = "pgd", seed: int = 0, show: Optional[bool] = None, workers: int = 0) -> Dict:
    """Rows: the model the examples were made on; columns: the model they are tested on; each cell
    the fraction of examples that fool the target (its prediction differs from the true label).
    Streamed in batches of 250."""
    sizes = {i.input_size for i in infos}
    if len(sizes) != 1:
        raise ConfigError("the models take inputs of different sizes ("
                          + ", ".join(f"{nm}: {i.input_size}" for nm, i in zip(names, infos)) + "); transfer needs one size")
    clfs = [Classifier.from_info(i) for i in infos]
    stream, y = labelled_stream(infos[0], data, n, workers=workers, show=show, desc="transfer")
    fooled = torch.zeros(len(clfs), len(clfs))
    for idx, x in stream:
        yb = y[idx]
        for r, src in enumerate(clfs):
            adv = fgsm(src, x, yb, eps) if method == "fgsm" else pgd(src, x, yb, eps, steps, seed=seed)
            with torch.no_grad():
                for c, tgt in enumerate(clfs):
                    fooled[r, c] += float((tgt(adv).argmax(1) != yb).sum())
    matrix = (fooled / len(y)).tolist()
    return {"models": list(names), "eps": eps, "method": method, "n": len(y), "steps": steps, "matrix": matrix}


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
