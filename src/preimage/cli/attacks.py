"""Verbs of adversarial examples: ``attack``."""

from __future__ import annotations

from .common import add_model_args, add_workers, command, load_model, positive


def _attack_options(p):
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files or sample:NAME (or --data)")
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", help="folder of images or tar shards (root/<class>/... gives true labels)")
    p.add_argument("--n", type=positive("--n"), default=100, help="images from --data, evenly spaced (default 100)")
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd")
    p.add_argument("--norm", default="inf", help="inf or 2 (default inf)")
    p.add_argument("--eps", default="8/255", help="budget, a number or a fraction like 8/255 (default 8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10, help="PGD steps (default 10)")
    p.add_argument("--step-size", help="PGD step (default 2.5 eps / steps)")
    p.add_argument("--target", type=int, help="targeted attack towards this class")
    p.add_argument("--invert-layers", help="layers (conv3,fc6) whose code change is measured and whose clean and "
                   "adversarial codes are decoded side by side (a bundled inverter where one fits, else optimisation)")
    p.add_argument("--out", default="preimage-attack", help="output folder (default preimage-attack)")


@command("attack", "adversarial examples (FGSM, PGD) with their success, also after 8-bit quantisation",
         "preimage attack --model refnet --data ../shared/data/cifar10/test --n 100 --eps 8/255 --out adv",
         _attack_options)
def cmd_attack(a):
    from .. import _io
    from ..attacks import check_norm, parse_eps
    from ..attacks.run import run_attack

    check_norm(a.norm)
    eps = parse_eps(a.eps)
    step = parse_eps(a.step_size) if a.step_size else None
    info = load_model(a)
    layers = [v for v in (a.invert_layers or "").split(",") if v]
    if layers:
        from ..representations.cnn import resolve_layer

        for layer in layers:
            resolve_layer(info.module, layer, info.aliases)
    _io.StagedDir.check(a.out, "attack", a.force)
    r = run_attack(info, a.images or None, a.data, a.n, a.method, a.norm, eps, a.steps, step, a.target, a.seed,
                   model=a.model, invert_layers=layers)
    r.save(a.out, force=a.force)
    rec = r.record
    print(f"{rec['n']} images, {a.method} {a.norm} eps {eps:.5g}: success {rec['success_rate']:.3f} "
          f"(8-bit PNG: {rec['success_rate_8bit']:.3f})" + (f", clean accuracy {rec['clean_accuracy']:.3f}"
                                                             if rec["clean_accuracy"] is not None else ""))
    for lay in rec.get("layers", []):
        print(f"{lay['layer']:<10} code change {lay['code_change_mean']:.3f}  (decoded by {lay['decoded_by']})")
    print(f"wrote {a.out}/results.json, attack.png and {rec['n']} adversarial PNGs")


def _parse_eps_list(text: str):
    from ..attacks import parse_eps

    return [parse_eps(t) for t in text.split(",") if t.strip()]


def _robustness_options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", required=True, help="image folder root/<class>/<image> or tar shards (class names = the model's)")
    add_workers(p)
    p.add_argument("--n", type=positive("--n"), default=1000, help="images, evenly spaced (default 1000)")
    p.add_argument("--eps", default="0,1/255,2/255,4/255,8/255", help="budgets (default 0,1/255,2/255,4/255,8/255)")
    p.add_argument("--steps", type=positive("--steps"), default=10)
    p.add_argument("--norm", default="inf", help="inf or 2")
    p.add_argument("--out", default="preimage-robustness")


@command("robustness", "accuracy under PGD against the budget: JSON and a plot",
         "preimage robustness --model refnet --data ../shared/data/cifar10/test --n 1000 --out robust",
         _robustness_options)
def cmd_robustness(a):
    import json

    from .. import _io
    from ..attacks import check_norm
    from ..attacks.run import robustness, robustness_plot

    check_norm(a.norm)
    eps = _parse_eps_list(a.eps)
    info = load_model(a)
    _io.StagedDir.check(a.out, "robustness", a.force)
    r = robustness(info, a.data, eps, a.n, a.steps, a.norm, a.seed, workers=a.workers)
    with _io.StagedDir(a.out, command="robustness", force=a.force) as d:
        (d / "robustness.json").write_text(json.dumps(r, indent=2) + "\n")
        (d / "robustness.png").write_bytes(robustness_plot(r))
    for e, acc in zip(r["eps"], r["accuracy"]):
        print(f"eps {e:.5f}  accuracy {acc:.3f}")
    print(f"wrote {a.out}/robustness.json and robustness.png")


def _transfer_options(p):
    p.add_argument("--models", required=True, help="comma-separated models (zoo names or .toml model files, each "
                   "with its own normalisation), e.g. refnet,cifar-resnet,cifar-vgg")
    p.add_argument("--data", required=True, help="image folder root/<class>/<image> or tar shards")
    add_workers(p)
    p.add_argument("--n", type=positive("--n"), default=1000)
    p.add_argument("--eps", default="8/255")
    p.add_argument("--steps", type=positive("--steps"), default=10)
    p.add_argument("--method", choices=("fgsm", "pgd"), default="pgd")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="preimage-transfer")


@command("transfer", "how often adversarial examples made on one model fool another: the transfer matrix",
         "preimage transfer --models refnet,cifar-resnet,cifar-vgg --data ../shared/data/cifar10/test --eps 8/255 "
         "--out transfer", _transfer_options)
def cmd_transfer(a):
    import json

    from .. import _io
    from ..attacks import parse_eps
    from ..attacks.run import transfer, transfer_heatmap
    from ..models import load_model as _load

    names = [m for m in a.models.split(",") if m]
    infos = [_load(m, seed=a.seed) for m in names]
    eps = parse_eps(a.eps)
    _io.StagedDir.check(a.out, "transfer", a.force)
    t = transfer(infos, names, a.data, eps, a.n, a.steps, a.method, a.seed, workers=a.workers)
    w = max(len(n) for n in names)
    head = "made on / tested on"
    w = max(w, len(head) - 4)
    table = [f"{head:<{w + 4}}" + "".join(f"{n:>{w + 2}}" for n in names)]
    table += [f"{src:<{w + 4}}" + "".join(f"{v:>{w + 2}.3f}" for v in row) for src, row in zip(names, t["matrix"])]
    with _io.StagedDir(a.out, command="transfer", force=a.force) as d:
        (d / "transfer.json").write_text(json.dumps(t, indent=2) + "\n")
        (d / "transfer.png").write_bytes(transfer_heatmap(t))
        (d / "transfer.txt").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    print(f"wrote {a.out}/transfer.json, transfer.png and transfer.txt")
