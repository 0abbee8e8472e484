"""Train and evaluate image classifiers on image-folder data (used to make the bundled refnet).

Data are decoded once into memory as uint8; augmentation (random crop with 4-pixel reflection
padding, horizontal flip) runs batched on tensors. SGD with Nesterov momentum, a one-cycle
learning-rate schedule computed from the step number (so a resumed run follows the same curve),
label smoothing, and a weights-only checkpoint after every epoch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from .. import _io, progress
from ..errors import ConfigError
from ..images import load_uint8_folder
from ..trainkit import Checkpoint, check_finite, lr_schedule, save_safetensors
from .loading import ModelInfo


def _normaliser(info: ModelInfo, device):
    mean = torch.tensor(info.mean, device=device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(info.std, device=device).view(1, 3, 1, 1) * 255.0
    return lambda xb: (xb.float() - mean) / std


def _augment(xb: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    n, _, h, w = xb.shape
    padded = F.pad(xb.float(), (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty((n, 3, h, w), dtype=torch.float32)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def lr_at(step: int, total: int, peak: float, warm_frac: float = 0.15) -> float:
    """One-cycle: linear warm-up from peak/10 to peak, then linear decay to zero."""
    return lr_schedule(step, total, peak, warmup=max(1, int(total * warm_frac)), warm_start=0.1, decay="linear")


def train_classifier(info: ModelInfo, data: str, out: str, epochs: int = 16, batch_size: int = 256,
                     lr: float = 0.2, weight_decay: float = 5e-4, label_smoothing: float = 0.1,
                     seed: int = 0, resume: bool = False, val: Optional[str] = None,
                     show: Optional[bool] = None, log=print, keep_checkpoint: bool = False) -> Dict:
    """Train ``info.module`` on ``data`` (root/<class>/<image>); write safetensors weights to ``out``.

    A checkpoint ``out + '.ckpt'`` is written after every epoch; ``resume=True`` continues from it
    (refused if the run's settings differ); it is removed after a successful run unless
    ``keep_checkpoint``. A folder smaller than a batch trains in one batch of what there is.
    Returns a summary dict (also written as ``out + '.json'``).
    """
    import math

    if epochs < 1 or batch_size < 1 or not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"epochs and batch size must be >= 1 and lr a positive number (got {epochs}, {batch_size}, {lr})")
    out_p = Path(out)
    torch.manual_seed(seed)
    model = info.module
    x, y, classes = load_uint8_folder(data, show=show)
    if info.classes is not None and len(classes) != len(info.classes):
        raise ConfigError(f"{data} has {len(classes)} classes, the model has {len(info.classes)}")
    if len(x) < batch_size:
        log(f"{data} holds {len(x)} images, fewer than a batch of {batch_size}: training on batches of {len(x)}")
        batch_size = len(x)
    ckpt = Checkpoint(out_p.with_name(out_p.name + ".ckpt"),
                      {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed})
    norm = _normaliser(info, "cpu")
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list = []
    no_decay: list = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=0.9, nesterov=True)
    steps_per_epoch = len(x) // batch_size
    total = steps_per_epoch * epochs
    start_epoch, history, elapsed = 0, [], 0.0
    gen = torch.Generator().manual_seed(seed)
    if resume:
        ck = ckpt.load()
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, history, elapsed = int(ck["epoch"]), json.loads(ck["history"]), float(ck["elapsed"])
        log(f"resumed from {ckpt.path} at epoch {start_epoch}")
    for epoch in range(start_epoch, epochs):
        t0 = time.time()
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        tot_loss, tot_correct, seen = 0.0, 0, 0
        bar = progress.bar(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", show=show, unit="batch")
        for b in bar:
            step = epoch * steps_per_epoch + b
            step_lr = lr_at(step, total, lr)
            for g in opt.param_groups:
                g["lr"] = step_lr
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb = norm(_augment(x[idx], gen)).contiguous(memory_format=torch.channels_last)
            yb = y[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            check_finite(loss.detach(), step, step_lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(idx)
            tot_correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{tot_correct / seen:.3f}")
        bar.close()
        dt = time.time() - t0
        elapsed += dt
        rec = {"epoch": epoch + 1, "loss": tot_loss / seen, "train_acc": tot_correct / seen, "seconds": dt}
        history.append(rec)
        check_finite(loss.detach(), step, step_lr, model)
        ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "generator": gen.get_state(),
                   "torch_rng": torch.get_rng_state(), "epoch": epoch + 1, "history": json.dumps(history),
                   "elapsed": elapsed})
        log(f"epoch {epoch + 1}/{epochs}: loss {rec['loss']:.4f}  train acc {rec['train_acc']:.4f}  {dt:.0f}s")
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    save_safetensors(model.state_dict(), out_p, {"arch": info.name, "classes": ",".join(classes),
                                                 "mean": ",".join(map(str, info.mean)), "std": ",".join(map(str, info.std))})
    summary: Dict = {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
               "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed,
               "train_seconds": elapsed, "history": history, "weights": str(out_p)}
    if val is not None:
        summary["val"] = evaluate_classifier(info, val, show=show)
        log(f"validation accuracy on {val}: {summary['val']['accuracy']:.4f}")
    _io.write_json(out_p.with_name(out_p.name + ".json"), summary)
    if not keep_checkpoint:
        ckpt.remove()
    return summary


@torch.no_grad()
def evaluate_classifier(info: ModelInfo, data: str, batch_size: int = 500, show: Optional[bool] = None) -> Dict:
    """Accuracy, per-class accuracy and confusion matrix (rows: true class, columns: predicted)."""
    model = info.module.eval()
    x, y, classes = load_uint8_folder(data, show=show)
    nc = len(info.classes) if info.classes else len(classes)
    if len(classes) != nc:
        raise ConfigError(f"{data} has {len(classes)} classes, the model has {nc}")
    device = next(model.parameters()).device
    norm = _normaliser(info, device)
    preds = []
    t0 = time.time()
    for i in progress.bar(range(0, len(x), batch_size), desc="evaluating", show=show, unit="batch"):
        logits = model(norm(x[i:i + batch_size].to(device)))
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] != nc:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ConfigError(f"{info.name} returns {shape} per batch, not one score per class (N, {nc}); "
                              f"eval-classifier needs a classifier")
        preds.append(logits.argmax(1).cpu())
    pred = torch.cat(preds)
    conf = torch.zeros(nc, nc, dtype=torch.int64)
    conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    per_class = (conf.diag().float() / conf.sum(1).clamp(min=1).float()).tolist()
    return {"model": info.name, "data": str(data), "n": len(y), "accuracy": float((pred == y).float().mean()),
            "per_class_accuracy": dict(zip(classes, per_class)), "classes": list(classes),
            "confusion_matrix": conf.tolist(), "seconds": time.time() - t0}
