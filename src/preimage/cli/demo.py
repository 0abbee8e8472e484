"""``preimage demo``: the report of what the bundled network keeps, layer by layer."""

from __future__ import annotations

import argparse

from ..parsing import parse_list
from ..report.demo import DEMO_IMAGES, run_demo
from .common import add_device, add_run_args, command, device, finish, load_model, output


def _options(p):
    p.add_argument("--model", default="refnet", help="model (default refnet, bundled)")
    p.add_argument("--weights", help="weights file")
    p.add_argument("--mean", help=argparse.SUPPRESS)
    p.add_argument("--std", help=argparse.SUPPRESS)
    p.add_argument("--random-weights", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", nargs="+", default=list(DEMO_IMAGES), help="images (default: three scikit-image photos)")
    p.add_argument("--layers", help="comma-separated layers (default: the network's unit-bearing layers, nested ones "
                                    "left out: refnet conv1 ... fc8, a ResNet its stem, stages and logits)")
    add_run_args(p, "preimage-demo", "iterations per layer (default: the preset's)")
    add_device(p)


def _command(a) -> str:
    """The command as run, every option that changes the demo included (the report prints it)."""
    parts = ["preimage demo"]
    given = [("--model", a.model if a.model != "refnet" else None), ("--weights", a.weights), ("--mean", a.mean),
             ("--std", a.std), ("--images", " ".join(a.images) if list(a.images) != list(DEMO_IMAGES) else None),
             ("--layers", a.layers), ("--preset", a.preset), ("--iters", a.iters), ("--seed", a.seed or None),
             ("--device", a.device)]
    parts += [f"{k} {v}" for k, v in given if v is not None]
    return " ".join(parts + (["--random-weights"] if a.random_weights else []))


@command("demo", "invert three photos from every layer of the bundled network and write an HTML report",
         "preimage demo --out preimage-demo", _options)
def cmd_demo(a):
    dev = device(a)       # checked before the model loads or --out is claimed
    info = load_model(a)
    cmd = _command(a)
    with output(a, "demo") as out:
        demo = run_demo(info, a.images, parse_list(a.layers, "--layers") if a.layers is not None else None, preset=a.preset or "default",
                        iters=a.iters, seed=a.seed, command=cmd, device=dev)
        site = [n for n in demo.pages if n.startswith("atlas/")]
        figures = [n for n in demo.pages if n != "report.html" and not n.startswith("atlas/")]
        finish(out, demo, f"wrote {a.out}/report.html, " + ", ".join(figures)
               + (f", a small atlas in atlas/ ({len(site)} files)" if site else "")
               + f" and results.json ({demo.record['seconds']:.0f}s)")
