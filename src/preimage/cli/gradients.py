"""Verbs of gradient leakage: ``gradient-leakage``."""

from __future__ import annotations

import sys

from ..jobs.gradients import AttackSettings, UtilitySettings, parse_defenses, run_gradient_leakage
from ..jobs.gradients.attacks import LABELS, METHODS
from ..jobs.gradients.client import BN_MODES
from .common import add_model_args, add_workers, command, finish, load_model, nonnegative, output, positive

#: iterations when --iters is not given: inverting gradients' plain budget of the issue (20.2 dB over 100
#: cifar10/test images on LeNet (Zhu)); DLG's L-BFGS reached 25.2 dB on 8 of them in 1,000
#: (BENCHMARKS.md, "Gradient leakage")
DEFAULT_ITERS = {"ig": 3000, "dlg": 1000}


def _options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--private", required=True, help="folder (or tar shards) of the client's private images in class "
                   "folders named after the model's classes (root/<class>/...): the labels of its loss")
    p.add_argument("--n", type=positive("--n"), default=8, help="private images, evenly spaced in name order (default 8)")
    p.add_argument("--batch-size", type=positive("--batch-size"), default=1,
                   help="images per update, B (default 1); the last incomplete batch is left out")
    p.add_argument("--attack", choices=METHODS, default="ig", help="ig: inverting gradients (cosine distance, TV, "
                   "signed Adam, box; default); dlg: deep leakage from gradients (L-BFGS on the squared distance)")
    p.add_argument("--iters", type=positive("--iters"), help="attack iterations per restart (default: ig "
                   f"{DEFAULT_ITERS['ig']}, dlg {DEFAULT_ITERS['dlg']} L-BFGS iterations)")
    p.add_argument("--restarts", type=positive("--restarts"), default=1,
                   help="starts per batch, keyed per image; the best match is kept (default 1)")
    p.add_argument("--lr", type=positive("--lr", float), default=0.1, help="ig: signed Adam's learning rate (default 0.1)")
    p.add_argument("--tv", type=nonnegative("--tv", float), default=0.01,
                   help="ig: weight of the anisotropic total variation (default 0.01)")
    p.add_argument("--labels", choices=LABELS, default="recovered", help="recovered: read off the update first (iDLG at "
                   "B=1, a count rule at B>1; default); true: given to the attacker; optimize: DLG's soft labels")
    p.add_argument("--local-steps", type=positive("--local-steps"), default=1,
                   help="1: the client shares its gradient (default); S > 1: its weight change after S SGD steps (FedAvg)")
    p.add_argument("--local-lr", type=positive("--local-lr", float), default=1e-4,
                   help="learning rate of the local steps (default 1e-4, as Geiping et al.)")
    p.add_argument("--bn", choices=BN_MODES, default="eval", help="BatchNorm on the client: eval (running statistics, "
                   "default) or train (each batch's own statistics; running statistics not updated)")
    p.add_argument("--defense", "--defence", default="", help="defenses of the update, each at its strengths: "
                   "'noise:0.01,0.1,1|prune:0.5,0.9,0.99|quantize:8,4,2|dpsgd:1/0.01,1/0.1,1/1' (noise std relative "
                   "to the update's RMS; fraction of each tensor zeroed; bits; per-example clip / noise multiplier)")
    p.add_argument("--public", help="folder of public images in class folders: the utility of each defense is the "
                   "accuracy of a small model trained on them with it (default: utility not measured)")
    p.add_argument("--utility-steps", type=positive("--utility-steps"), default=300,
                   help="SGD steps of the utility model (default 300, batch 32)")
    p.add_argument("--utility-train", type=positive("--utility-train"), default=5000,
                   help="public images the utility model trains on (default 5000)")
    p.add_argument("--utility-test", type=positive("--utility-test"), default=1000,
                   help="other public images it is tested on (default 1000)")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable private images (default: stop, "
                   "naming it)")
    p.add_argument("--out", default="preimage-gradient-leakage", help="output folder (default preimage-gradient-leakage)")


@command("gradient-leakage", "what a federated-learning server rebuilds from one client's gradient or update "
         "(labels, images, re-identification) and what each defense costs in accuracy",
         "preimage gradient-leakage --model lenet-zhu --private ../shared/data/cifar10/test --n 8 --iters 3000 "
         "--defense 'prune:0.5,0.9,0.99|dpsgd:1/0.01,1/0.1,1/1' --public ../shared/data/cifar10/train --out gradleak",
         _options)
def cmd_gradient_leakage(a):
    defenses = parse_defenses(a.defense)
    settings = AttackSettings(a.attack, a.iters or DEFAULT_ITERS[a.attack], a.restarts, a.lr, a.tv, a.labels).check()
    utility = UtilitySettings(steps=a.utility_steps, train=a.utility_train, test=a.utility_test).check()
    info = load_model(a)
    quiet = getattr(a, "quiet", False)
    with output(a, "gradient-leakage") as out:
        r = run_gradient_leakage(info, a.private, a.n, a.batch_size, settings, a.local_steps, a.local_lr, a.bn, defenses,
                                 a.public, utility, a.seed, a.workers,
                                 log=(lambda m: None) if quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
                                 skip_bad=a.skip_bad)
        finish(out, r, f"wrote {a.out}/gradient_leakage.json, gradient_leakage.html, gradient_leakage.png, "
                       f"gradient_leakage_tradeoff.png, reconstructions/")

