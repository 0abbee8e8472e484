"""Verbs of adversarial examples: ``attack``, ``robustness``, ``transfer``."""

from __future__ import annotations

from typing import List

from ..attacks import check_norm, parse_eps
from ..hooks import resolve_layer
from ..jobs.attacks import robustness, run_attack, transfer
from ..models import load_model as load_named
from ..parsing import parse_list
from .common import add_model_args, add_workers, command, finish, load_model, output, positive


def _attack_options(p):
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or sample:NAME (or --data)")
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", help="folder of images or tar shards (root/<class>/... gives true labels)")
    p.add_argument("--n", type=positive("--n"), default=100, help="images from --data, evenly spaced in name order (default 100)")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images of --data (default: stop, naming it)")
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd",
                   help="pgd: projected gradient descent, --steps steps of --step-size (default); fgsm: one signed-gradient "
                        "step of size eps (L-inf only)")
    p.add_argument("--norm", default="inf", help="inf or 2 (default inf)")
    p.add_argument("--eps", default="8/255", help="budget, a number or a fraction like 8/255 (default 8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10, help="PGD steps (default 10)")
    p.add_argument("--step-size", help="PGD step (default 2.5 eps / steps)")
    p.add_argument("--target", type=int, help="targeted attack towards this class")
    p.add_argument("--invert-layers", help="layers (conv3,fc6) whose code change is measured and whose clean and "
                   "adversarial codes are decoded side by side (a bundled inverter where one fits, else optimization)")
    p.add_argument("--out", default="preimage-attack", help="output folder (default preimage-attack)")


@command("attack", "adversarial examples (FGSM, PGD) with their success, also after 8-bit quantization",
         "preimage attack --model refnet --data ../shared/data/cifar10/test --n 100 --eps 8/255 --out adv",
         _attack_options)
def cmd_attack(a):
    check_norm(a.norm)
    eps = parse_eps(a.eps)
    step = parse_eps(a.step_size, "--step-size") if a.step_size else None
    info = load_model(a)
    layers = parse_list(a.invert_layers, "--invert-layers") if a.invert_layers is not None else []
    for layer in layers:
        resolve_layer(info.module, layer, info.aliases)
    with output(a, "attack") as out:
        r = run_attack(info, a.images or None, a.data, a.n, a.method, a.norm, eps, a.steps, step, a.target, a.seed,
                       model=a.model, invert_layers=layers, workers=a.workers, skip_bad=a.skip_bad)
        finish(out, r, f"wrote {a.out}/results.json, attack.png and {r.record['n']} adversarial PNGs")


def _parse_eps_list(text: str) -> List[float]:
    return [parse_eps(t) for t in parse_list(text, "--eps")]


def _robustness_options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", required=True, help="image folder root/<class>/<image> or tar shards (class names = the model's)")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images (default: stop, naming it)")
    p.add_argument("--n", type=positive("--n"), default=1000, help="images, evenly spaced in name order (default 1000)")
    p.add_argument("--eps", default="0,1/255,2/255,4/255,8/255", help="budgets, comma-separated (default 0,1/255,2/255,4/255,8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10, help="PGD steps per example (default 10)")
    p.add_argument("--norm", default="inf", help="the budget's norm: inf (largest pixel change) or 2 (Euclidean); default inf")
    p.add_argument("--out", default="preimage-robustness", help="output folder (default preimage-robustness)")


@command("robustness", "accuracy under PGD against the budget: JSON and a plot",
         "preimage robustness --model refnet --data ../shared/data/cifar10/test --n 1000 --out robust",
         _robustness_options)
def cmd_robustness(a):
    check_norm(a.norm)
    eps = _parse_eps_list(a.eps)
    info = load_model(a)
    with output(a, "robustness") as out:
        r = robustness(info, a.data, eps, a.n, a.steps, a.norm, a.seed, workers=a.workers, skip_bad=a.skip_bad)
        finish(out, r, f"wrote {a.out}/robustness.json and robustness.png")


def _transfer_options(p):
    p.add_argument("--models", required=True, help="comma-separated models (zoo names or .toml model files, each "
                   "with its own normalization), e.g. refnet,cifar-resnet,cifar-vgg")
    p.add_argument("--data", required=True, help="image folder root/<class>/<image> or tar shards")
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images (default: stop, naming it)")
    p.add_argument("--n", type=positive("--n"), default=1000, help="images, evenly spaced in name order (default 1000)")
    p.add_argument("--eps", default="8/255", help="L-inf budget, a number or a fraction like 8/255 (default 8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10, help="PGD steps per example (default 10)")
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd", help="pgd (default) or fgsm")
    p.add_argument("--seed", type=int, default=0, help="seed of PGD's random starts and of networks built without weights")
    p.add_argument("--out", default="preimage-transfer", help="output folder (default preimage-transfer)")


@command("transfer", "how often adversarial examples made on one model fool another: the transfer matrix",
         "preimage transfer --models refnet,cifar-resnet,cifar-vgg --data ../shared/data/cifar10/test --eps 8/255 "
         "--out transfer", _transfer_options)
def cmd_transfer(a):
    names = parse_list(a.models, "--models")
    infos = [load_named(m, seed=a.seed) for m in names]
    eps = parse_eps(a.eps)
    with output(a, "transfer") as out:
        t = transfer(infos, names, a.data, eps, a.n, a.steps, a.method, a.seed, workers=a.workers, skip_bad=a.skip_bad)
        finish(out, t, f"wrote {a.out}/transfer.json, transfer.png and transfer.txt")
