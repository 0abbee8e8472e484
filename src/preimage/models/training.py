"""Train and evaluate image classifiers on image folders or tar shards (how the bundled networks were made).

Images are streamed (:mod:`preimage.data`): the batch of step ``s`` is the ``s``-th slice of its
epoch's permutation, drawn from ``(seed, rank, epoch)``, decoded and augmented (random crop with
4-pixel reflection padding, horizontal flip, from ``(seed, rank, s)``) in worker processes, so the
first step comes at once whatever the folder's size, and a resumed run draws exactly what the
uninterrupted one did. SGD with Nesterov momentum, a one-cycle learning-rate schedule computed from
the step number, label smoothing, and a weights-only checkpoint after every epoch. Under
``torchrun`` each rank trains on its own share of the data (its shards, or every ``world``-th file)
with gradients averaged (DistributedDataParallel, gloo); rank 0 writes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from .. import _io, progress
from ..data import Items, _iterate, _loader, batch_generator, class_indices, list_items
from ..errors import ConfigError, ImageError
from ..trainkit import (
    Checkpoint,
    Throughput,
    check_finite,
    distributed,
    finish_distributed,
    gather,
    lr_schedule,
    param_checksum,
    save_safetensors,
)
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


def _uint8(items: Items, i: int, size: int) -> torch.Tensor:
    """Image ``i`` as uint8 (3, size, size): shorter side resized to ``size``, centre-cropped."""
    return items.load(i, size).mul(255).round().to(torch.uint8)


class EpochBatches(torch.utils.data.Dataset):
    """Item ``step`` -> (augmented 0-255 float images, labels, seconds decoding) of that step."""

    def __init__(self, items: Items, labels: torch.Tensor, size: int, batch: int, steps_per_epoch: int, seed: int,
                 rank: int):
        self.items, self.labels, self.size, self.batch, self.spe, self.seed, self.rank = \
            items, labels, size, batch, steps_per_epoch, seed, rank
        self._perm: tuple = (-1, None)

    def __len__(self) -> int:
        return 2 ** 62

    def perm(self, epoch: int) -> torch.Tensor:
        if self._perm[0] != epoch:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + self.rank * 7919 + 104_729 * (epoch + 1)) % 2 ** 63)
            self._perm = (epoch, torch.randperm(len(self.items), generator=gen))
        return self._perm[1]

    def __getitem__(self, step: int):
        t0 = time.perf_counter()
        epoch, b = divmod(step, self.spe)
        idx = self.perm(epoch)[b * self.batch:(b + 1) * self.batch]
        x = torch.stack([_uint8(self.items, int(i), self.size) for i in idx])
        x = _augment(x, batch_generator(self.seed, self.rank, step))
        return x, self.labels[idx], time.perf_counter() - t0


def _classes(items: Items, info: ModelInfo, data: str, world: int) -> List[str]:
    """The class names, in order: sorted over every rank's labels (class folders, shards' classes)."""
    mine = sorted({v for v in items.labels() if v is not None})
    classes = sorted(set().union(*gather(mine, world)))
    if not classes or any(v is None for v in items.labels()):
        raise ImageError(f"{data}: training a classifier needs a class for every image (root/<class>/<image>, or "
                         f"shards with .cls/.txt members)")
    if info.classes is not None and len(classes) != len(info.classes):
        raise ConfigError(f"{data} has {len(classes)} classes, the model has {len(info.classes)}")
    return classes


def train_classifier(info: ModelInfo, data: str, out: str, epochs: int = 16, batch_size: int = 256,
                     lr: float = 0.2, weight_decay: float = 5e-4, label_smoothing: float = 0.1,
                     seed: int = 0, resume: bool = False, val: Optional[str] = None,
                     show: Optional[bool] = None, log=print, keep_checkpoint: bool = False, workers: int = 0) -> Dict:
    """Train ``info.module`` on ``data`` (root/<class>/<image>, or tar shards); write safetensors weights to ``out``.

    A checkpoint ``out + '.ckpt'`` is written after every epoch; ``resume=True`` continues from it
    (refused if the run's settings differ); it is removed after a successful run unless
    ``keep_checkpoint``. A folder smaller than a batch trains in one batch of what there is.
    Returns a summary dict (also written as ``out + '.json'``).
    """
    import math

    if epochs < 1 or batch_size < 1 or not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"epochs and batch size must be >= 1 and lr a positive number (got {epochs}, {batch_size}, {lr})")
    began = time.perf_counter()
    rank, world, created = distributed()
    lead = rank == 0
    say = log if lead else (lambda m: None)
    show = show if lead else False
    out_p = Path(out)
    torch.manual_seed(seed)
    model = info.module
    items = list_items(data, rank, world)
    classes = _classes(items, info, data, world)
    labels = class_indices(items, classes)
    assert labels is not None
    size = info.input_size
    local = batch_size // world if batch_size >= world else 1
    if len(items) < local:
        say(f"{data} holds {len(items)} images per process, fewer than a batch of {local}: training on batches of {len(items)}")
        local = len(items)
    batch_size = local * world
    ckpt = Checkpoint(out_p.with_name(out_p.name + ".ckpt"),
                      {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed, "world": world})
    norm = _normaliser(info, "cpu")
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list = []
    no_decay: list = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=0.9, nesterov=True)
    steps_per_epoch = max(1, len(items) // local)
    if world > 1:  # every rank takes the same number of steps
        steps_per_epoch = min(gather(steps_per_epoch, world))
    total = steps_per_epoch * epochs
    start_epoch, history, elapsed = 0, [], 0.0
    if resume:
        ck = ckpt.load()
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        start_epoch, history, elapsed = int(ck["epoch"]), json.loads(ck["history"]), float(ck["elapsed"])
        say(f"resumed from {ckpt.path} at epoch {start_epoch}")
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)
    dataset = EpochBatches(items, labels, size, local, steps_per_epoch, seed, rank)
    rate = Throughput(workers)
    first_step: Optional[float] = None
    for epoch in range(start_epoch, epochs):
        t0 = time.time()
        net.train()
        tot_loss, tot_correct, seen = 0.0, 0, 0
        bar = progress.bar(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", show=show, unit="batch")
        first = epoch * steps_per_epoch
        loader = _loader(dataset, workers, batch_size=None, sampler=range(first, first + steps_per_epoch))
        batches = _iterate(loader)
        for step, (xb, yb, decode_s) in zip(range(first, first + steps_per_epoch), batches):
            rate.loaded(len(xb), decode_s)
            step_lr = lr_at(step, total, lr)
            for g in opt.param_groups:
                g["lr"] = step_lr
            xb = norm(xb).contiguous(memory_format=torch.channels_last)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
            check_finite(loss.detach(), step, step_lr)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot_loss += float(loss.detach()) * len(yb)
            tot_correct += int((logits.argmax(1) == yb).sum())
            seen += len(yb)
            rate.stepped(len(yb))
            if first_step is None:
                first_step = time.perf_counter() - began
            bar.update(1)
            bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{tot_correct / seen:.3f}", **rate.postfix())
        batches.close()
        bar.close()
        dt = time.time() - t0
        elapsed += dt
        rec = {"epoch": epoch + 1, "loss": tot_loss / seen, "train_acc": tot_correct / seen, "seconds": dt}
        history.append(rec)
        check_finite(loss.detach(), step, step_lr, model)
        if lead:
            ckpt.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                       "epoch": epoch + 1, "history": json.dumps(history), "elapsed": elapsed})
        say(f"epoch {epoch + 1}/{epochs}: loss {rec['loss']:.4f}  train acc {rec['train_acc']:.4f}  {dt:.0f}s")
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    checksums = gather(param_checksum(model), world)
    summary: Dict = {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                     "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed,
                     "train_images": len(items), "world_size": world, "workers": workers,
                     "rank_checksums": checksums, "ranks_in_sync": len(set(checksums)) == 1,
                     "first_step_seconds": first_step, "throughput": rate.summary(),
                     "train_seconds": elapsed, "history": history, "weights": str(out_p)}
    if lead:
        save_safetensors(model.state_dict(), out_p, {"arch": info.name, "classes": ",".join(classes),
                                                     "mean": ",".join(map(str, info.mean)),
                                                     "std": ",".join(map(str, info.std))})
        if val is not None:
            summary["val"] = evaluate_classifier(info, val, show=show, workers=workers)
            log(f"validation accuracy on {val}: {summary['val']['accuracy']:.4f}")
        _io.write_json(out_p.with_name(out_p.name + ".json"), summary)
        if not keep_checkpoint:
            ckpt.remove()
    finish_distributed(world, created)
    return summary


@torch.no_grad()
def evaluate_classifier(info: ModelInfo, data: str, batch_size: int = 500, show: Optional[bool] = None,
                        workers: int = 0) -> Dict:
    """Accuracy, per-class accuracy and confusion matrix (rows: true class, columns: predicted),
    streamed over a folder root/<class>/<image> or tar shards."""
    from ..attacks import Classifier
    from ..data import Stream

    model = Classifier.from_info(info).eval()
    items = list_items(data)
    classes = sorted({v for v in items.labels() if v is not None})
    y = class_indices(items, classes)
    if y is None:
        raise ImageError(f"{data}: evaluation needs a class for every image (root/<class>/<image>)")
    nc = len(info.classes) if info.classes else len(classes)
    if len(classes) != nc:
        raise ConfigError(f"{data} has {len(classes)} classes, the model has {nc}")
    device = next(info.module.parameters()).device
    pred = torch.zeros(len(items), dtype=torch.long)
    t0 = time.time()
    for idx, x in Stream(items, info.input_size, batch_size, workers, show=show, desc="evaluating"):
        logits = model(x.to(device))
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] != nc:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ConfigError(f"{info.name} returns {shape} per batch, not one score per class (N, {nc}); "
                              f"eval-classifier needs a classifier")
        pred[idx] = logits.argmax(1).cpu()
    conf = torch.zeros(nc, nc, dtype=torch.int64)
    conf.index_put_((y, pred), torch.ones_like(y), accumulate=True)
    per_class = (conf.diag().float() / conf.sum(1).clamp(min=1).float()).tolist()
    return {"model": info.name, "data": str(data), "n": len(y), "accuracy": float((pred == y).float().mean()),
            "per_class_accuracy": dict(zip(classes, per_class)), "classes": list(classes),
            "confusion_matrix": conf.tolist(), "seconds": time.time() - t0}
