"""Verbs of trained inverters: ``train-inverter``, ``perturb``, ``interpolate``, ``sample``."""

from __future__ import annotations

import os

from .._io import check_output_file
from ..jobs.studies import interpolate_study, perturb_study, sample_study
from ..learned.apply import resolve_inverter
from ..learned.inverter import is_inverter_file
from ..learned.training import comparator_from_spec, train_inverter
from .common import add_model_args, add_workers, build_rep, command, finish, output, positive


def _train_options(p):
    add_model_args(p)
    p.add_argument("--data", required=True, help="folder of training images (searched recursively) or WebDataset "
                   "shards ('train-{000000..000127}.tar'; under torchrun each process reads its own shards)")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images and count them (default: stop, naming it)")
    p.add_argument("--size", type=positive("--size"), help="crop size in pixels (default: the model's input size)")
    p.add_argument("--steps", type=positive("--steps"), default=3000)
    p.add_argument("--batch-size", type=positive("--batch-size"), default=64, help="global batch (split over processes)")
    p.add_argument("--lr", type=positive("--lr", float), default=1e-3, help="Adam's peak learning rate")
    p.add_argument("--width", type=positive("--width"), default=64, help="decoder channels before the first up-convolution")
    p.add_argument("--min-width", type=positive("--min-width"), default=16,
                   help="fewest channels of an up-convolution stage (default 16; lower is faster to run)")
    p.add_argument("--fc-width", type=positive("--fc-width"), default=512, help="width of the fully connected layers (vector codes)")
    p.add_argument("--val", help="folder of validation images (default: hold back 5%% of --data)")
    p.add_argument("--val-n", type=positive("--val-n"), default=256, help="validation images (default 256)")
    p.add_argument("--val-every", type=positive("--val-every"), help="steps between validations (default steps/10)")
    p.add_argument("--comparator", help="comparator for a feature-matching loss: MODEL:LAYER (e.g. refnet:conv3) or a descriptor (hog)")
    p.add_argument("--comparator-weight", type=float, default=0.0, help="weight of the feature-matching term")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--stop-at", type=positive("--stop-at"), help="end after this step of the schedule with a checkpoint "
                   "only (for time-limited sessions; continue with --resume)")
    p.add_argument("--out", required=True, help="output inverter (.safetensors); OUT.json gets the summary")


@command("train-inverter", "train an up-convolutional decoder that maps a representation's code back to the image",
         "preimage train-inverter --model refnet --layer fc6 --data ../shared/data/cifar10/train "
         "--steps 3000 --out refnet-fc6.safetensors   (two processes: torchrun --nproc_per_node 2 -m preimage.cli "
         "train-inverter ...)", _train_options)
def cmd_train_inverter(a):
    check_output_file(a.out, a.force or a.resume, owned_by=is_inverter_file)
    rep = build_rep(a)
    size = a.size or rep.input_size
    comparator = comparator_from_spec(a.comparator, a.comparator_weight, size) if a.comparator else None
    s = train_inverter(rep, a.data, a.out, size, a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                       resume=a.resume, val=a.val, val_n=a.val_n, val_every=a.val_every, width=a.width,
                       min_width=a.min_width, fc_width=a.fc_width, comparator=comparator,
                       comparator_weight=a.comparator_weight, log=lambda m: print(m, flush=True),
                       command="preimage " + " ".join(a.argv), workers=a.workers, skip_bad=a.skip_bad,
                       stop_at=a.stop_at)
    if s["world_size"] > 1 and int(os.environ.get("RANK", "0")) != 0:
        return
    if s["stopped_at"]:
        print(f"stopped after step {s['stopped_at']} of {s['steps']}; checkpoint {a.out}.ckpt (continue with --resume)")
    else:
        print(f"wrote {a.out} (validation image_error {s['val_image_error']:.4f}, {s['train_seconds']:.0f}s of "
              f"training, {s['world_size']} process(es), ranks in sync: {s['ranks_in_sync']})")
        t = s["throughput"]
        print(f"loader {t['loader_images_per_second']:.0f} img/s with {a.workers} worker(s), model "
              f"{t['model_images_per_second']:.0f} img/s, waiting for data {100 * t['waiting_for_data']:.0f}% of the time")


def _study_options(p, out: str) -> None:
    add_model_args(p)
    p.add_argument("--inverter", help="inverter file (default: the bundled one for this model and layer)")
    p.add_argument("--size", type=positive("--size"), help="image size (default: the inverter's)")
    p.add_argument("--out", default=out, help=f"output folder (default {out})")


def _run_study(a, make) -> None:
    rep = build_rep(a).eval()
    inv = resolve_inverter(rep, a.inverter, a.size)
    with output(a, a.command) as out:
        study = make(rep, inv)
        finish(out, study, f"wrote {a.out}/{study.name}.png and {study.name}.json")


def _perturb_options(p):
    _study_options(p, "preimage-perturb")
    p.add_argument("--data", required=True, help="folder of images (or tar shards) whose codes are perturbed")
    add_workers(p)
    p.add_argument("--n", type=positive("--n"), default=100, help="images (evenly spaced in name order; default 100)")
    p.add_argument("--drop", type=float, default=0.5, help="fraction of units dropped (default 0.5)")
    p.add_argument("--show", type=positive("--show"), default=8, help="images in the PNG (default 8)")


@command("perturb", "decode binarized and dropped-out codes and report how the reconstruction error changes",
         "preimage perturb --model refnet --layer fc6 --data ../shared/data/cifar10/test --n 1000 --out perturb-fc6",
         _perturb_options)
def cmd_perturb(a):
    _run_study(a, lambda rep, inv: perturb_study(rep, inv, a.data, a.n, a.drop, a.seed, a.show, a.workers))


def _interpolate_options(p):
    p.add_argument("a", metavar="A", help="first image (file or sample:NAME)")
    p.add_argument("b", metavar="B", help="second image")
    _study_options(p, "preimage-interpolate")
    p.add_argument("--steps", type=positive("--steps"), default=8, help="points on the line, ends included (default 8)")


@command("interpolate", "decode a straight line between two images' codes",
         "preimage interpolate sample:astronaut sample:coffee --model refnet --layer fc6 --steps 8 --out interp",
         _interpolate_options)
def cmd_interpolate(a):
    _run_study(a, lambda rep, inv: interpolate_study(rep, inv, a.a, a.b, a.steps))


def _sample_options(p):
    _study_options(p, "preimage-sample")
    p.add_argument("--data", required=True, help="folder of images (or tar shards) whose codes give the empirical distributions")
    add_workers(p)
    p.add_argument("--n-codes", type=positive("--n-codes"), default=1000, help="images used for the marginals (default 1000)")
    p.add_argument("--samples", type=positive("--samples"), default=8, help="images to draw (default 8)")


@command("sample", "decode codes drawn independently from each dimension's empirical distribution",
         "preimage sample --model refnet --layer fc6 --data ../shared/data/cifar10/train --samples 8 --out samples",
         _sample_options)
def cmd_sample(a):
    _run_study(a, lambda rep, inv: sample_study(rep, inv, a.data, a.n_codes, a.samples, a.seed, a.workers))
