"""The ``preimage`` verbs of trained inverters: train-inverter, perturb, interpolate, sample.

Registered into :mod:`preimage.cli` when it is imported; thin like the rest of the CLI.
"""

from __future__ import annotations

import os

from .cli import COMMANDS, PARSERS, _add_model_args, _build_rep, _positive, command


# ---------------------------------------------------------------- train-inverter
def _p_train_inverter(p):
    _add_model_args(p)
    p.add_argument("--data", required=True, help="folder of training images (searched recursively)")
    p.add_argument("--size", type=_positive("--size"), help="crop size in pixels (default: the model's input size)")
    p.add_argument("--steps", type=_positive("--steps"), default=3000)
    p.add_argument("--batch-size", type=_positive("--batch-size"), default=64, help="global batch (split over processes)")
    p.add_argument("--lr", type=_positive("--lr", float), default=1e-3, help="Adam's peak learning rate")
    p.add_argument("--width", type=_positive("--width"), default=64, help="decoder channels before the first up-convolution")
    p.add_argument("--min-width", type=_positive("--min-width"), default=16,
                   help="fewest channels of an up-convolution stage (default 16; lower is faster to run)")
    p.add_argument("--fc-width", type=_positive("--fc-width"), default=512, help="width of the fully connected layers (vector codes)")
    p.add_argument("--val", help="folder of validation images (default: hold back 5%% of --data)")
    p.add_argument("--val-n", type=_positive("--val-n"), default=256, help="validation images (default 256)")
    p.add_argument("--val-every", type=_positive("--val-every"), help="steps between validations (default steps/10)")
    p.add_argument("--comparator", help="comparator for a feature-matching loss: MODEL:LAYER (e.g. refnet:conv3) or a descriptor (hog)")
    p.add_argument("--comparator-weight", type=float, default=0.0, help="weight of the feature-matching term")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--out", required=True, help="output inverter (.safetensors); OUT.json gets the summary")


@command("train-inverter", "train an up-convolutional decoder that maps a representation's code back to the image",
         "preimage train-inverter --model refnet --layer fc6 --data ../shared/data/cifar10/train "
         "--steps 3000 --out refnet-fc6.safetensors   (two processes: torchrun --nproc_per_node 2 -m preimage.cli "
         "train-inverter ...)")
def cmd_train_inverter(a):
    from .errors import ConfigError
    from .learned.training import train_inverter
    from .representations import build

    rep = _build_rep(a)
    size = a.size or rep.input_size
    comparator = None
    if a.comparator:
        from .representations import parse_handcrafted

        if parse_handcrafted(a.comparator) is not None:
            comparator = build(a.comparator, size=size)
        else:
            spec, _, layer = a.comparator.rpartition(":")
            if not spec:
                raise ConfigError(f"--comparator wants MODEL:LAYER (e.g. refnet:conv3) or a descriptor, "
                                  f"got {a.comparator!r}")
            comparator = build(spec, layer, size=size)
        comparator = comparator.eval()
        if not comparator.differentiable:
            raise ConfigError(f"--comparator {a.comparator} is not differentiable; use a CNN layer or hog, hogb, dsift")
        for q in comparator.parameters():
            q.requires_grad_(False)
        if a.comparator_weight <= 0:
            raise ConfigError("--comparator needs a positive --comparator-weight")
    s = train_inverter(rep, a.data, a.out, size, a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                       resume=a.resume, val=a.val, val_n=a.val_n, val_every=a.val_every, width=a.width,
                       min_width=a.min_width, fc_width=a.fc_width, comparator=comparator, comparator_weight=a.comparator_weight,
                       log=lambda m: print(m, flush=True), command="preimage " + " ".join(a.argv))
    if s["world_size"] == 1 or int(os.environ.get("RANK", "0")) == 0:
        print(f"wrote {a.out} (validation image_error {s['val_image_error']:.4f}, {s['train_seconds']:.0f}s of "
              f"training, {s['world_size']} process(es), ranks in sync: {s['ranks_in_sync']})")


# ---------------------------------------------------------------- studies
def _add_study_args(p, out: str) -> None:
    _add_model_args(p)
    p.add_argument("--inverter", help="inverter file (default: the bundled one for this model and layer)")
    p.add_argument("--size", type=_positive("--size"), help="image size (default: the inverter's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help=f"output folder (default {out})")


def _study_setup(a):
    """(representation, inverter, image size) for a study command."""
    from .learned.apply import resolve_inverter

    rep = _build_rep(a).eval()
    inv = resolve_inverter(rep, a.inverter, a.size)
    return rep, inv, inv.image_size


def _folder_images(data: str, n: int, size: int):
    import torch

    from .images import list_images, load_image
    from .learned.data import evenly_spaced

    files = evenly_spaced(list_images(data, recursive=True), n)
    return files, torch.stack([load_image(f, size) for f in files])


def _write_study(out_dir: str, name: str, png: bytes, record: dict) -> None:
    import json

    from . import _io

    with _io.StagedDir(out_dir) as d:
        (d / f"{name}.png").write_bytes(png)
        (d / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out_dir}/{name}.png and {name}.json")


def _p_perturb(p):
    _add_study_args(p, "preimage-perturb")
    p.add_argument("--data", required=True, help="folder of images whose codes are perturbed")
    p.add_argument("--n", type=_positive("--n"), default=100, help="images (evenly spaced in name order; default 100)")
    p.add_argument("--drop", type=float, default=0.5, help="fraction of units dropped (default 0.5)")
    p.add_argument("--show", type=_positive("--show"), default=8, help="images in the PNG (default 8)")


@command("perturb", "decode binarised and dropped-out codes and report how the reconstruction error changes",
         "preimage perturb --model refnet --layer fc6 --data ../shared/data/cifar10/test --n 1000 --out perturb-fc6")
def cmd_perturb(a):
    from .errors import ConfigError
    from .images import encode_png
    from .learned.studies import perturb
    from .report import grid

    if not 0.0 <= a.drop < 1.0:
        raise ConfigError(f"--drop must be in [0, 1), got {a.drop}")
    rep, inv, size = _study_setup(a)
    files, x = _folder_images(a.data, a.n, size)
    r = perturb(rep, inv, x, p=a.drop, seed=a.seed)
    modes = list(r["images"])
    rows = [[x[i]] + [r["images"][m][i] for m in modes] for i in range(min(a.show, len(x)))]
    cols = ["original", "decoded", "binarised code", f"{int(100 * a.drop)}% dropped", "mean code", "next image's code"]
    record = {"representation": rep.name, "inverter": inv.path, "data": a.data, "n": len(files), "size": size,
              "drop": a.drop, "seed": a.seed, "binarise": "active units -> mean active value, others -> mean inactive value",
              "modes": {m: {"image_error_mean": float(r["image_error"][m].mean()),
                            "image_error_std": float(r["image_error"][m].std()) if len(files) > 1 else 0.0,
                            "code_change_mean": float(r["feature_error"][m].mean()),
                            "image_error": [round(float(v), 5) for v in r["image_error"][m]]} for m in modes},
              "files": [str(f) for f in files]}
    print(f"{'code':<12} {'image_error':>11} {'code change':>11}")
    for m in modes:
        print(f"{m:<12} {record['modes'][m]['image_error_mean']:>11.4f} {record['modes'][m]['code_change_mean']:>11.4f}")
    _write_study(a.out, "perturb", encode_png(grid(rows, cols, min_side=64)), record)


def _p_interpolate(p):
    p.add_argument("a", metavar="A", help="first image (file or sample:NAME)")
    p.add_argument("b", metavar="B", help="second image")
    _add_study_args(p, "preimage-interpolate")
    p.add_argument("--steps", type=_positive("--steps"), default=8, help="points on the line, ends included (default 8)")


@command("interpolate", "decode a straight line between two images' codes",
         "preimage interpolate sample:astronaut sample:coffee --model refnet --layer fc6 --steps 8 --out interp")
def cmd_interpolate(a):
    from .errors import ConfigError
    from .images import encode_png, load_image
    from .learned.studies import interpolate
    from .metrics import image_error
    from .report import grid

    if a.steps < 2:
        raise ConfigError(f"--steps must be at least 2, got {a.steps}")
    rep, inv, size = _study_setup(a)
    xa, xb = load_image(a.a, size), load_image(a.b, size)
    t, imgs = interpolate(rep, inv, xa, xb, a.steps)
    row = [xa] + list(imgs) + [xb]
    cols = ["A"] + [f"t={float(v):.2f}" for v in t] + ["B"]
    record = {"representation": rep.name, "inverter": inv.path, "a": a.a, "b": a.b, "size": size, "t": t.tolist(),
              "rms_change_between_steps": [float((imgs[i + 1] - imgs[i]).pow(2).mean().sqrt())
                                           for i in range(len(imgs) - 1)],
              "image_error_at_a": float(image_error(imgs[:1], xa[None])[0]),
              "image_error_at_b": float(image_error(imgs[-1:], xb[None])[0])}
    _write_study(a.out, "interpolate", encode_png(grid([row], cols, min_side=64)), record)


def _p_sample(p):
    _add_study_args(p, "preimage-sample")
    p.add_argument("--data", required=True, help="folder of images whose codes give the empirical distributions")
    p.add_argument("--n-codes", type=_positive("--n-codes"), default=1000, help="images used for the marginals (default 1000)")
    p.add_argument("--samples", type=_positive("--samples"), default=8, help="images to draw (default 8)")


@command("sample", "decode codes drawn independently from each dimension's empirical distribution",
         "preimage sample --model refnet --layer fc6 --data ../shared/data/cifar10/train --samples 8 --out samples")
def cmd_sample(a):
    from .images import encode_png
    from .learned.studies import sample
    from .report import grid

    rep, inv, size = _study_setup(a)
    files, x = _folder_images(a.data, a.n_codes, size)
    codes, imgs = sample(rep, inv, x, a.samples, a.seed)
    record = {"representation": rep.name, "inverter": inv.path, "data": a.data, "n_codes": len(files), "size": size,
              "samples": a.samples, "seed": a.seed,
              "mean_sample_std": float(imgs.flatten(1).std(1).mean()),
              "mean_data_std": float(x.flatten(1).std(1).mean()),
              "code_norms": [float(v) for v in codes.flatten(1).norm(dim=1)]}
    _write_study(a.out, "sample", encode_png(grid([list(imgs)], [f"sample {k}" for k in range(a.samples)],
                                                  min_side=64)), record)


PARSERS.update({"train-inverter": _p_train_inverter, "perturb": _p_perturb, "interpolate": _p_interpolate,
                "sample": _p_sample})
__all__ = ["COMMANDS"]
