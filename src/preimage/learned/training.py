"""Training an inverter: a decoder from a frozen representation's code back to the image.

The loss is the mean squared pixel error between the image and the decoder's output (the decoder
learns the expected pre-image, Dosovitskiy & Brox), optionally plus ``comparator_weight`` times the
relative squared error in a comparator representation's space (the follow-up paper's
feature-matching term, for sharper images). Adam with a short warm-up and a cosine decay computed
from the step number, so a resumed run follows the same schedule.

Distributed data parallel: started under ``torchrun`` (``WORLD_SIZE`` > 1) the loop joins a gloo
process group, each process draws its own share of every batch, gradients are averaged by
:class:`torch.nn.parallel.DistributedDataParallel`, and only rank 0 writes files or prints. At the
end every rank's parameter checksum is gathered and compared; the summary records them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

import torch

from .. import _io, metrics
from ..data import center_crops, crop_batches, split_items
from ..errors import ConfigError
from ..representations import build, parse_handcrafted
from ..representations.base import Representation
from ..trainkit import Checkpoint, Trainer, gather, lr_schedule
from .data import in_batches
from .decoder import Decoder, build_decoder
from .inverter import identity, save_inverter


def lr_at(step: int, total: int, peak: float, warm_frac: float = 0.05, floor: float = 0.05) -> float:
    """Linear warm-up to ``peak`` over the first 5% of steps, then cosine decay to ``floor * peak``."""
    return lr_schedule(step, total, peak, warmup=max(1, int(total * warm_frac)), warm_counts_current=True,
                       decay="cosine", floor=floor)


def comparator_from_spec(spec: str, weight: float, size: int):
    """The frozen comparator of a feature-matching loss: ``MODEL:LAYER`` (``refnet:conv3``) or a
    differentiable descriptor (``hog``)."""

    if parse_handcrafted(spec) is not None:
        comparator = build(spec, size=size)
    else:
        model, _, layer = spec.rpartition(":")
        if not model:
            raise ConfigError(f"--comparator wants MODEL:LAYER (e.g. refnet:conv3) or a descriptor, got {spec!r}")
        comparator = build(model, layer, size=size)
    comparator = comparator.eval()
    if not comparator.differentiable:
        raise ConfigError(f"--comparator {spec} is not differentiable; use a CNN layer or hog, hogb, dsift")
    for q in comparator.parameters():
        q.requires_grad_(False)
    if weight <= 0:
        raise ConfigError("--comparator needs a positive --comparator-weight")
    return comparator


@torch.no_grad()
def validate(decoder: Decoder, feats: torch.Tensor, images: torch.Tensor, batch: int = 256) -> Dict[str, float]:
    was = decoder.training
    decoder.eval()
    rec = in_batches(decoder, feats, batch)
    decoder.train(was)
    return {"image_error": float(metrics.image_error(rec, images).mean()),
            "mse": float((rec - images).pow(2).mean())}


def train_inverter(rep: Representation, data: str, out: str, size: int, steps: int, batch_size: int = 64, lr: float = 1e-3,
                   seed: int = 0, resume: bool = False, val: Optional[str] = None, val_n: int = 256,
                   val_every: Optional[int] = None, ckpt_every: Optional[int] = None, width: int = 64,
                   fc_width: int = 512, min_width: int = 16, comparator=None, comparator_weight: float = 0.0, zoom: float = 1.25,
                   show: Optional[bool] = None, log=print, command: Optional[str] = None, workers: int = 0,
                   skip_bad: bool = False, stop_at: Optional[int] = None) -> Dict:
    """Train a decoder for ``rep`` on random ``size`` x ``size`` crops of the images in ``data``.

    Writes the inverter to ``out`` (safetensors), a resumable checkpoint to ``out + '.ckpt'`` every
    ``ckpt_every`` steps and a summary to ``out + '.json'``; returns the summary. ``stop_at``: end
    after that step of the schedule with a checkpoint only (continue later with ``resume``). Images
    come from ``data`` (a folder or tar shards) through :func:`preimage.data.crop_batches`, decoded
    by ``workers`` processes; under torchrun each rank draws from its own share.
    """
    if steps < 1 or batch_size < 1 or lr <= 0 or size < 1:
        raise ConfigError(f"steps, batch size and size must be >= 1 and lr > 0 (got {steps}, {batch_size}, {size}, {lr})")
    if comparator_weight > 0 and comparator is None:
        raise ConfigError("a comparator weight needs a comparator representation")
    run = Trainer(log, show, workers)
    if batch_size % run.world:
        raise ConfigError(f"batch size {batch_size} does not split over {run.world} processes")
    local_batch = batch_size // run.world
    out_p = Path(out)
    rep = rep.eval()
    for p in rep.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)

    train_items, val_items = split_items(data, val, val_n, run.rank, run.world)
    if not len(train_items):
        raise ConfigError(f"{data}: no training images for rank {run.rank} of {run.world}")
    val_x = center_crops(val_items, size, 1.0, workers, skip_bad)
    with torch.no_grad():
        val_f = in_batches(rep, val_x)

    decoder = build_decoder(rep, size, width=width, fc_width=fc_width, min_width=min_width)
    with torch.no_grad():  # input statistics from 512 training images spread over the folder
        decoder.fit_input(in_batches(rep, center_crops(train_items.evenly_spaced(512), size, zoom, workers, skip_bad)))
    config = {"representation": identity(rep), "size": size, "steps": steps, "batch_size": batch_size,
              "lr": lr, "seed": seed, "decoder": decoder.config(), "zoom": zoom,
              "comparator": getattr(comparator, "name", None), "comparator_weight": comparator_weight}
    opt = torch.optim.Adam(decoder.parameters(), lr=lr, betas=(0.9, 0.999))
    run_loss, run_n = 0.0, 0
    skipped: List[str] = []

    def step(model: torch.nn.Module, batch) -> torch.Tensor:
        nonlocal run_loss, run_n
        x, bad, _ = batch
        skipped.extend(bad)
        with torch.no_grad():
            f = rep(x)
        y = model(f)
        loss = (y - x).pow(2).mean()
        if comparator_weight > 0:
            with torch.no_grad():
                c0 = comparator(x)
            loss = loss + comparator_weight * ((comparator(y) - c0).pow(2).sum() / c0.pow(2).sum().clamp_min(1e-12))
        run_loss += float(loss.detach())
        run_n += 1
        return loss

    def evaluate(done: int) -> Dict:
        nonlocal run_loss, run_n
        v = validate(decoder, val_f, val_x)
        rec = {"step": done, "train_loss": run_loss / run_n, "val_image_error": v["image_error"],
               "val_mse": v["mse"], "seconds": run.seconds()}
        run_loss, run_n = 0.0, 0
        run.say(f"step {done}/{steps}: train loss {rec['train_loss']:.5f}  "
                f"validation image_error {v['image_error']:.4f}  mse {v['mse']:.5f}")
        return rec

    end = min(steps, stop_at) if stop_at else steps
    run.fit(decoder, opt, step,
            lambda first, stop: crop_batches(train_items, size, local_batch, seed, run.rank, first, stop, workers, zoom, skip_bad),
            lambda s: lr_at(s, steps, lr), steps, Checkpoint(out_p.with_name(out_p.name + ".ckpt"), config),
            name="decoder", resume=resume, end=end, checkpoint_every=ckpt_every or max(1, steps // 10),
            evaluate=evaluate, evaluate_every=val_every or max(1, steps // 10),
            postfix=lambda: {"loss": f"{run_loss / run_n:.4f}"}, desc=f"training inverter for {rep.name}")
    if skipped:
        run.say(f"skipped {len(skipped)} unreadable image draw(s) (first: {skipped[0]})")

    checksums = run.checksums(decoder)
    shards = gather(list(train_items.shards), run.world)
    history = run.history
    summary = {"representation": rep.name, "identity": identity(rep), "data": str(data), "val": str(val) if val else None,
               "stopped_at": end if end < steps else None,
               "train_images": len(train_items), "val_images": len(val_x), "workers": workers,
               "skipped_images": skipped, "throughput": run.rate.summary(), "first_step_seconds": run.first_step,
               "rank_shards": shards if train_items.sharded else None, "size": size, "steps": steps,
               "batch_size": batch_size, "lr": lr, "seed": seed, "world_size": run.world,
               "rank_checksums": checksums, "ranks_in_sync": len(set(checksums)) == 1,
               "train_seconds": run.elapsed, "val_image_error": history[-1]["val_image_error"] if history else None,
               "history": history, "decoder": decoder.config(), "command": command,
               "comparator": config["comparator"], "comparator_weight": comparator_weight}
    if run.lead and end == steps:
        small = {k: summary[k] for k in ("data", "val", "train_images", "val_images", "steps", "batch_size", "lr",
                                         "seed", "world_size", "train_seconds", "val_image_error", "command")}
        save_inverter(decoder.eval(), rep, out_p, small)
        _io.write_json(out_p.with_name(out_p.name + ".json"), summary)
    run.finish()
    if not summary["ranks_in_sync"]:
        raise ConfigError(f"distributed ranks fell out of sync: parameter checksums {checksums}")
    return summary
