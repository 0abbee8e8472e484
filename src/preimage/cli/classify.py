"""Verbs of classifiers: ``train-classifier`` (how the bundled networks were made), ``eval-classifier``."""

from __future__ import annotations

import json
import os

from .. import _io
from ..models import load_model as load_named
from ..models.training import evaluate_classifier, train_classifier
from .common import add_model_args, add_workers, command, load_model, positive


def _train_options(p):
    p.add_argument("--data", required=True, help="image folder root/<class>/<image>, or tar shards "
                   "('train-{000000..000009}.tar'; under torchrun each process reads its own)")
    add_workers(p)
    p.add_argument("--arch", default="refnet", help="zoo architecture, model file or factory spec (default refnet)")
    p.add_argument("--epochs", type=positive("--epochs"), default=16)
    p.add_argument("--batch-size", type=positive("--batch-size"), default=256)
    p.add_argument("--lr", type=positive("--lr", float), default=0.2, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", help="image folder to evaluate on at the end")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--keep-checkpoint", action="store_true", help="keep OUT.ckpt after a successful run")
    p.add_argument("--out", required=True, help="output weights (.safetensors)")


@command("train-classifier", "train a classifier on an image folder",
         "preimage train-classifier --data ../shared/data/cifar10/train --arch refnet --epochs 16 "
         "--val ../shared/data/cifar10/test --out refnet.safetensors", _train_options)
def cmd_train_classifier(a):
    _io.check_output_file(a.out, a.force or a.resume)
    info = load_named(a.arch, pretrained=False, seed=a.seed)
    s = train_classifier(info, a.data, a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                         resume=a.resume, val=a.val, log=lambda m: print(m, flush=True),
                         keep_checkpoint=a.keep_checkpoint, workers=a.workers)
    if s["world_size"] == 1 or int(os.environ.get("RANK", "0")) == 0:
        t = s["throughput"]
        print(f"wrote {a.out} ({s['train_seconds']:.0f}s of training, {s['world_size']} process(es), ranks in sync: "
              f"{s['ranks_in_sync']}; loader {t['loader_images_per_second']:.0f} img/s with {a.workers} worker(s), "
              f"model {t['model_images_per_second']:.0f} img/s)")


def _eval_options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", required=True, help="image folder root/<class>/<image>, or tar shards")
    add_workers(p)
    p.add_argument("--out", help="write the JSON here as well as to stdout")


@command("eval-classifier", "accuracy, per-class accuracy and confusion matrix of a classifier on an image folder",
         "preimage eval-classifier --model refnet --data ../shared/data/cifar10/test", _eval_options)
def cmd_eval_classifier(a):
    if a.out:
        _io.check_output_file(a.out, a.force)
    r = evaluate_classifier(load_model(a), a.data, workers=a.workers)
    text = json.dumps(r, indent=2)
    if a.out:
        _io.write_text(a.out, text + "\n")
    print(text)
