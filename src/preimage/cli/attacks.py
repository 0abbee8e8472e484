"""Verbs of adversarial examples: ``attack``."""

from __future__ import annotations

from .common import add_model_args, command, load_model, positive


def _attack_options(p):
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or sample:NAME (or --data)")
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", help="folder of images (root/<class>/... gives true labels)")
    p.add_argument("--n", type=positive("--n"), default=100, help="images from --data, evenly spaced (default 100)")
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd")
    p.add_argument("--norm", default="inf", help="inf or 2 (default inf)")
    p.add_argument("--eps", default="8/255", help="budget, a number or a fraction like 8/255 (default 8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10, help="PGD steps (default 10)")
    p.add_argument("--step-size", help="PGD step (default 2.5 eps / steps)")
    p.add_argument("--target", type=int, help="targeted attack towards this class")
    p.add_argument("--out", default="preimage-attack", help="output folder (default preimage-attack)")


@command("attack", "adversarial examples (FGSM, PGD) with their success, also after 8-bit quantisation",
         "preimage attack --model refnet --data ../shared/data/cifar10/test --n 100 --eps 8/255 --out adv",
         _attack_options)
def cmd_attack(a):
    from .. import _io
    from ..attacks import NORMS, parse_eps
    from ..attacks.run import run_attack
    from ..errors import ConfigError

    if a.norm not in NORMS:
        raise ConfigError(f"unknown norm {a.norm!r}; valid: inf, 2")
    eps = parse_eps(a.eps)
    step = parse_eps(a.step_size) if a.step_size else None
    info = load_model(a)
    _io.StagedDir.check(a.out, "attack", a.force)
    r = run_attack(info, a.images or None, a.data, a.n, a.method, a.norm, eps, a.steps, step, a.target, a.seed,
                   model=a.model)
    r.save(a.out, force=a.force)
    rec = r.record
    print(f"{rec['n']} images, {a.method} {a.norm} eps {eps:.5g}: success {rec['success_rate']:.3f} "
          f"(8-bit PNG: {rec['success_rate_8bit']:.3f})" + (f", clean accuracy {rec['clean_accuracy']:.3f}"
                                                             if rec["clean_accuracy"] is not None else ""))
    print(f"wrote {a.out}/results.json, attack.png and {rec['n']} adversarial PNGs")
