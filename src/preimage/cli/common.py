"""The command registry and the options many commands share.

Each verb lives in one module of :mod:`preimage.cli` and registers itself with :func:`command`,
naming its option builder; nothing here imports a verb module, so there is no import loop.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch

from .. import report
from ..data import usable_cores
from ..errors import ConfigError
from ..models import ModelInfo
from ..models import load_model as _load_model
from ..representations import Representation, build
from ..results import Output, Result


@dataclass
class Command:
    name: str
    run: Callable[[argparse.Namespace], None]
    options: Callable[[argparse.ArgumentParser], None]
    help: str
    example: str
    writes: bool = True   # gets --force


COMMANDS: Dict[str, Command] = {}


def command(name: str, help: str, example: str, options: Callable[[argparse.ArgumentParser], None],
            writes: bool = True):
    """Register ``fn(args)`` as ``preimage NAME``; ``options(parser)`` adds its options."""
    def deco(fn):
        COMMANDS[name] = Command(name, fn, options, help, example, writes)
        return fn
    return deco


# ---------------------------------------------------------------- argument types
def positive(name: str, kind=int):
    """An argparse type: a positive integer (or, with ``kind=float``, a finite positive number)."""
    what = "an integer" if kind is int else "a number"

    def f(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {s!r}") from None
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {s}")
        if not (v >= 1 if kind is int else v > 0):
            raise argparse.ArgumentTypeError(f"{name} must be {'at least 1' if kind is int else 'positive'}, got {s}")
        return v
    return f


def converge_option(s: str):
    """An argparse type for ``--converge``: ``WINDOW,TOL`` (an image ends when its energy improved by at
    most TOL, relative, over its last WINDOW iterations) or ``off``."""
    if s.strip().lower() == "off":
        return False
    parts = s.split(",")
    try:
        window, tol = int(parts[0]), float(parts[1])
        if len(parts) != 2 or window < 1 or not (math.isfinite(tol) and tol >= 0):
            raise ValueError
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"--converge must be WINDOW,TOL (a window of at least 1 iteration and a "
                                         f"tolerance >= 0, e.g. 30,1e-3) or off, got {s!r}") from None
    return window, tol


MODEL_HELP = ("zoo name (refnet, cifar-resnet, cifar-vgg, alexnet, vgg16), a model file (.toml), hand-crafted "
              "(hog, hogb, hog-dt, dsift, lbp; options as dsift:bin_size=5), package.module:factory or file.py:factory")


def add_model_args(p: argparse.ArgumentParser, layer: bool = True, required: bool = True,
                   handcrafted: bool = True) -> None:
    p.add_argument("--model", required=required, help=MODEL_HELP if handcrafted else
                   "zoo name (refnet, cifar-resnet, cifar-vgg, alexnet, vgg16), a model file (.toml), "
                   "package.module:factory or file.py:factory")
    if layer:
        p.add_argument("--layer", help="layer alias (conv3, fc6, ...) or module path (features.8)")
    p.add_argument("--weights", help="safetensors file or weights-only torch checkpoint")
    p.add_argument("--mean", help="input mean for [0,1] images, comma-separated (e.g. 0.485,0.456,0.406)")
    p.add_argument("--std", help="input std for [0,1] images, comma-separated")
    p.add_argument("--random-weights", action="store_true", help="skip a zoo model's bundled/downloaded weights")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice, including random weights")


#: image-decoding processes when --workers is not given: half the cores, at most 4 (1 on the 2-core
#: machine here, where one worker made training 12-23% faster and two cost the main process its
#: second core; BENCHMARKS.md "Data at scale")
DEFAULT_WORKERS = max(0, min(4, (os.cpu_count() or 1) // 2))


def nonnegative(name: str, kind=int):
    """An argparse type: an integer >= 0 (or, with ``kind=float``, a finite number >= 0)."""
    what = "an integer" if kind is int else "a number"

    def f(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {s!r}") from None
        if not v >= 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be {'0 or more' if kind is int else 'a finite number >= 0'}, "
                                             f"got {s}")
        return v
    return f


def workers_option(s: str) -> int:
    """An argparse type: an integer from 0 to the cores this process may use."""
    v = nonnegative("--workers")(s)
    cores = usable_cores()
    if v > cores:
        raise argparse.ArgumentTypeError(f"--workers {v} is more than the {cores} core(s) this process may use")
    return v


def add_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=workers_option, default=DEFAULT_WORKERS,
                   help=f"image-decoding processes (default {DEFAULT_WORKERS}; 0 decodes in the main process)")


def add_run_args(p: argparse.ArgumentParser, out: str, iters_help: str = "iterations (default: the preset's)") -> None:
    """Options every optimization command shares: --preset, --iters, --out."""
    p.add_argument("--preset", help="default, classic (default without the inversion rule), mv2015, mv2016 or hybrid "
                   "(default: 'default')")
    p.add_argument("--iters", type=positive("--iters"), help=iters_help)
    p.add_argument("--out", default=out, help=f"output folder (default {out})")


def add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cpu)")


def device(a: argparse.Namespace) -> torch.device:
    """The torch device of ``--device``, checked: a clear error for an unknown or absent one."""
    name = getattr(a, "device", None)
    if name is None:
        name = "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {name!r} is not a device; valid: cpu, cuda, cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: this machine has no CUDA GPU (torch {torch.__version__}); use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                          f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps":  # the metrics and the atlas's statistics sum in float64, which MPS lacks
        raise ConfigError(f"--device {name}: MPS is not supported (preimage's measures use float64, which MPS "
                          "lacks); use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"--device {name}: unsupported device type; valid: cpu, cuda, cuda:N")
    return dev


def build_rep(a: argparse.Namespace, layer: Optional[str] = None, model: Optional[str] = None) -> Representation:
    """The representation named by ``--model`` (and ``--layer``), with the model-loading options."""
    return build(model or a.model, layer if layer is not None else getattr(a, "layer", None),
                 weights=getattr(a, "weights", None), mean=getattr(a, "mean", None), std=getattr(a, "std", None),
                 size=getattr(a, "size", None), pretrained=not getattr(a, "random_weights", False),
                 seed=getattr(a, "seed", 0))


def load_model(a: argparse.Namespace, model: Optional[str] = None) -> ModelInfo:
    """The model named by ``--model`` with the model-loading options."""
    return _load_model(model or a.model, weights=getattr(a, "weights", None), mean=getattr(a, "mean", None),
                 std=getattr(a, "std", None), input_size=getattr(a, "size", None),
                 pretrained=not getattr(a, "random_weights", False), seed=getattr(a, "seed", 0))


def output(a: argparse.Namespace, name: str) -> Output:
    """``--out`` claimed for this run of ``name``, before any work: checked and locked until saved."""
    return Output(a.out, name, a.force)


def finish(out: Output, result: Result, wrote: str) -> Dict:
    """Save ``result`` with its figures, print its lines and ``wrote``; returns the record."""
    record = report.save(result, out)
    lines: List[str] = result.lines()
    if lines:
        print("\n".join(lines))
    print(wrote)
    return record
