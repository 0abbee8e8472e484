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

import math
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F

from .. import _io
from ..data import Items, Stream, _iterate, _loader, batch_generator, class_indices, list_items
from ..errors import ConfigError, ImageError
from ..keys import keyed
from ..trainkit import Checkpoint, Trainer, gather, lr_schedule, save_safetensors
from .classifier import Classifier
from .loading import ModelInfo


def _normalizer(info: ModelInfo, device):
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
    """Image ``i`` as uint8 (3, size, size): shorter side resized to ``size``, center-cropped."""
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
            gen = keyed(self.seed, "epoch", self.rank, epoch)
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
    if epochs < 1 or batch_size < 1 or not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"epochs and batch size must be >= 1 and lr a positive number (got {epochs}, {batch_size}, {lr})")
    run = Trainer(log, show, workers)
    out_p = Path(out)
    torch.manual_seed(seed)
    model = info.module
    items = list_items(data, run.rank, run.world)
    classes = _classes(items, info, data, run.world)
    labels = class_indices(items, classes)
    assert labels is not None
    size = info.input_size
    local = batch_size // run.world if batch_size >= run.world else 1
    if len(items) < local:
        run.say(f"{data} holds {len(items)} images per process, fewer than a batch of {local}: training on batches of {len(items)}")
        local = len(items)
    batch_size = local * run.world
    ckpt = Checkpoint(out_p.with_name(out_p.name + ".ckpt"),
                      {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                       "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed, "world": run.world})
    norm = _normalizer(info, "cpu")
    model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    decay: list = []
    no_decay: list = []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                           {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=0.9, nesterov=True)
    steps_per_epoch = max(1, len(items) // local)
    if run.world > 1:  # every rank takes the same number of steps
        steps_per_epoch = min(gather(steps_per_epoch, run.world))
    total = steps_per_epoch * epochs
    dataset = EpochBatches(items, labels, size, local, steps_per_epoch, seed, run.rank)
    tot_loss, tot_correct, seen = 0.0, 0, 0

    def step(net: torch.nn.Module, batch) -> torch.Tensor:
        nonlocal tot_loss, tot_correct, seen
        xb, yb, _ = batch
        logits = net(norm(xb).contiguous(memory_format=torch.channels_last))
        loss = F.cross_entropy(logits, yb, label_smoothing=label_smoothing)
        tot_loss += float(loss.detach()) * len(yb)
        tot_correct += int((logits.argmax(1) == yb).sum())
        seen += len(yb)
        return loss

    def evaluate(done: int) -> Dict:
        nonlocal tot_loss, tot_correct, seen
        rec = {"epoch": done // steps_per_epoch, "loss": tot_loss / seen, "train_acc": tot_correct / seen, "seconds": run.lap()}
        tot_loss, tot_correct, seen = 0.0, 0, 0
        return rec

    def epoch_end(epoch: int) -> None:
        rec = run.history[-1]
        run.say(f"epoch {epoch}/{epochs}: loss {rec['loss']:.4f}  train acc {rec['train_acc']:.4f}  {rec['seconds']:.0f}s")

    run.fit(model, opt, step,
            lambda first, stop: _iterate(_loader(dataset, workers, batch_size=None, sampler=range(first, stop))),
            lambda s: lr_at(s, total, lr), total, ckpt, resume=resume, epoch_steps=steps_per_epoch, evaluate=evaluate,
            epoch_end=epoch_end, keep_rng=True,
            postfix=lambda: {"loss": f"{tot_loss / seen:.3f}", "acc": f"{tot_correct / seen:.3f}"})
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    checksums = run.checksums(model)
    summary: Dict = {"arch": info.name, "data": str(data), "epochs": epochs, "batch_size": batch_size, "lr": lr,
                     "weight_decay": weight_decay, "label_smoothing": label_smoothing, "seed": seed,
                     "train_images": len(items), "world_size": run.world, "workers": workers,
                     "rank_checksums": checksums, "ranks_in_sync": len(set(checksums)) == 1,
                     "first_step_seconds": run.first_step, "throughput": run.rate.summary(),
                     "train_seconds": run.elapsed, "history": run.history, "weights": str(out_p)}
    if run.lead:
        save_safetensors(model.state_dict(), out_p, {"arch": info.name, "classes": ",".join(classes),
                                                     "mean": ",".join(map(str, info.mean)),
                                                     "std": ",".join(map(str, info.std))})
        if val is not None:
            summary["val"] = evaluate_classifier(info, val, show=run.show, workers=workers)
            log(f"validation accuracy on {val}: {summary['val']['accuracy']:.4f}")
        _io.write_json(out_p.with_name(out_p.name + ".json"), summary)
        if not keep_checkpoint:
            ckpt.remove()
    run.finish()
    return summary


@torch.no_grad()
def evaluate_classifier(info: ModelInfo, data: str, batch_size: int = 500, show: Optional[bool] = None,
                        workers: int = 0) -> Dict:
    """Accuracy, per-class accuracy and confusion matrix (rows: true class, columns: predicted),
    streamed over a folder root/<class>/<image> or tar shards."""
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
