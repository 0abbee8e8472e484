"""Verbs of privacy: ``leakage``."""

from __future__ import annotations

import sys

from ..jobs.privacy import parse_defenses, run_leakage
from ..models import load_model as load_named
from ..parsing import parse_list
from .common import add_model_args, add_workers, command, finish, load_model, output, positive


def _leakage_options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--layers", required=True, help="layers whose embeddings leak, comma-separated (conv2,conv5,fc6)")
    p.add_argument("--private", required=True, help="folder (or tar shards) of private images (root/<class>/... gives "
                   "true classes)")
    p.add_argument("--public", help="folder of the attacker's public images: an inverter is trained on them for "
                   "every layer without a bundled one")
    p.add_argument("--n", type=positive("--n"), default=1000, help="private images, evenly spaced in name order "
                   "(default 1000; re-identification picks one among them)")
    p.add_argument("--defense", default="", help="defenses of the embedding: noise:0.1,0.3|quantize:8,4,2|topk:0.5,0.1 "
                   "(noise std relative to the code's RMS; bits per number; fraction of numbers kept)")
    p.add_argument("--judge", help="independent classifier for attribute leakage (default: another bundled network "
                   "with the same classes, cifar-resnet for refnet)")
    p.add_argument("--steps", type=positive("--steps"), default=3000,
                   help="training steps of an inverter trained on --public (default 3000, as the bundled ones)")
    p.add_argument("--batch-size", type=positive("--batch-size"), default=100, help="images per batch (default 100)")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable private or public images "
                   "(default: stop, naming it)")
    p.add_argument("--out", default="preimage-leakage", help="output folder (default preimage-leakage)")


@command("leakage", "how much of a private image its embedding gives away: reconstruction, re-identification, "
         "attribute leakage, and what a defense costs in accuracy",
         "preimage leakage --model refnet --layers conv2,conv5,fc6,fc7,fc8 --private ../shared/data/cifar10/test "
         "--public ../shared/data/cifar10/train --n 1000 --defense 'noise:0.1,0.3,1|quantize:4,2,1|topk:0.1,0.01' "
         "--out leakage", _leakage_options)
def cmd_leakage(a):
    defenses = parse_defenses(a.defense)
    layers = parse_list(a.layers, "--layers")
    info = load_model(a)
    # the judge with its own weights and normalization (zoo name or model file), not --weights
    judge = load_named(a.judge) if a.judge else None
    quiet = getattr(a, "quiet", False)
    with output(a, "leakage") as out:
        r = run_leakage(info, layers, a.private, a.public, a.n, defenses, judge, a.steps, a.seed, a.workers,
                        a.batch_size, log=(lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
                        skip_bad=a.skip_bad)
        finish(out, r, f"wrote {a.out}/leakage.json, leakage.html, leakage_depth.png, leakage_tradeoff.png")
