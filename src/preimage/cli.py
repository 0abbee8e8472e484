"""The ``preimage`` command. Thin: every verb parses options and calls the library."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .errors import PreimageError

COMMANDS = {}


def command(name: str, help: str, example: str):
    def deco(fn):
        COMMANDS[name] = (fn, help, example)
        return fn
    return deco


def _add_model_args(p: argparse.ArgumentParser, layer: bool = True) -> None:
    p.add_argument("--model", required=True, help="zoo name (refnet, alexnet, vgg16), hand-crafted (hog, hogb, "
                   "hog-dt, dsift, lbp; options as dsift:bin_size=5), package.module:factory or file.py:factory")
    if layer:
        p.add_argument("--layer", help="layer alias (conv3, fc6, ...) or module path (features.8)")
    p.add_argument("--weights", help="safetensors file or weights-only torch checkpoint")
    p.add_argument("--mean", help="input mean for [0,1] images, comma-separated (e.g. 0.485,0.456,0.406)")
    p.add_argument("--std", help="input std for [0,1] images, comma-separated")
    p.add_argument("--random-weights", action="store_true", help="skip a zoo model's bundled/downloaded weights")


def _build_rep(a):
    from .representations import build

    return build(a.model, getattr(a, "layer", None), weights=a.weights, mean=a.mean, std=a.std,
                 size=getattr(a, "size", None), pretrained=not a.random_weights)


def _load_model(a):
    from .models import load_model

    return load_model(a.model, weights=a.weights, mean=a.mean, std=a.std,
                      input_size=getattr(a, "size", None), pretrained=not a.random_weights)


# ---------------------------------------------------------------- train-classifier / eval-classifier
def _p_train_classifier(p):
    p.add_argument("--data", required=True, help="image folder root/<class>/<image>")
    p.add_argument("--arch", default="refnet", help="zoo architecture or factory spec (default refnet)")
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.2, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", help="image folder to evaluate on at the end")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--out", required=True, help="output weights (.safetensors)")


@command("train-classifier", "train a classifier on an image folder",
         "preimage train-classifier --data ../shared/data/cifar10/train --arch refnet --epochs 16 "
         "--val ../shared/data/cifar10/test --out refnet.safetensors")
def cmd_train_classifier(a):
    from .models import load_model
    from .models.training import train_classifier

    info = load_model(a.arch, pretrained=False)
    s = train_classifier(info, a.data, a.out, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr,
                         seed=a.seed, resume=a.resume, val=a.val, log=lambda m: print(m, flush=True))
    print(f"wrote {a.out} ({s['train_seconds']:.0f}s of training)")


def _p_eval_classifier(p):
    _add_model_args(p, layer=False)
    p.add_argument("--data", required=True, help="image folder root/<class>/<image>")
    p.add_argument("--out", help="write the JSON here as well as to stdout")


@command("eval-classifier", "accuracy, per-class accuracy and confusion matrix on an image folder",
         "preimage eval-classifier --model refnet --data ../shared/data/cifar10/test")
def cmd_eval_classifier(a):
    import json

    from . import _io
    from .models.training import evaluate_classifier

    r = evaluate_classifier(_load_model(a), a.data)
    text = json.dumps(r, indent=2)
    if a.out:
        _io.write_text(a.out, text + "\n")
    print(text)


# ---------------------------------------------------------------- layers
def _p_layers(p):
    p.add_argument("model", help="zoo name, package.module:factory or file.py:factory")
    p.add_argument("--size", type=int, help="input size in pixels (default: the model's)")
    p.add_argument("--weights", help="weights file (not needed to list layers)")
    p.add_argument("--mean", help=argparse.SUPPRESS)
    p.add_argument("--std", help=argparse.SUPPRESS)
    p.add_argument("--random-weights", action="store_true", default=True, help=argparse.SUPPRESS)


@command("layers", "list every addressable layer of a model with its output shape",
         "preimage layers refnet --size 32")
def cmd_layers(a):
    from .representations import parse_handcrafted, probe_layers

    if parse_handcrafted(a.model) is not None:
        rep = _build_rep(a)
        size = a.size or rep.input_size
        shape = "x".join(map(str, rep.output_shape(size)))
        print(f"{rep.name}: hand-crafted, no layers; input 3x{size}x{size} -> output {shape}, stride {rep.stride}, "
              f"differentiable: {'yes' if rep.differentiable else 'no'}")
        return
    info = _load_model(a)
    size = a.size or info.input_size
    rows = probe_layers(info.module, size, info.aliases, info.mean, info.std)
    print(f"{info.name}: input 3x{size}x{size}")
    w = max(len(r.path) for r in rows)
    print(f"{'module path':<{w}}  {'alias':<7}  {'type':<18} {'output shape':<18} stride")
    for r in rows:
        shape = "x".join(map(str, r.shape)) if r.shape else "(not run)"
        print(f"{r.path:<{w}}  {r.alias or '':<7}  {r.kind:<18} {shape:<18} {r.stride or ''}")


# ---------------------------------------------------------------- invert
def _positive(name, kind=int):
    """An argparse type: a positive integer (or, with ``kind=float``, a positive number)."""
    what = "an integer" if kind is int else "a number"

    def f(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be {what}, got {s!r}")
        if not (v >= 1 if kind is int else v > 0):
            raise argparse.ArgumentTypeError(f"{name} must be {'at least 1' if kind is int else 'positive'}, got {s}")
        return v
    return f


def _add_run_args(p: argparse.ArgumentParser, out: str, iters_help: str = "iterations (default: the preset's)") -> None:
    """Options every optimisation command shares: --preset, --iters, --seed, --out."""
    p.add_argument("--preset", help="default, mv2015, mv2016 or hybrid (default: 'default'; 'hybrid' with --method hybrid)")
    p.add_argument("--iters", type=_positive("--iters"), help=iters_help)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out, help=f"output folder (default {out})")


def _p_invert(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or sample:NAME (astronaut, coffee, chelsea, ...)")
    _add_model_args(p)
    p.add_argument("--samples", type=_positive("--samples"), default=1, help="reconstructions per image from different random starts")
    p.add_argument("--window", type=_positive("--window"), help="match only a centred KxK window of the feature map")
    p.add_argument("--channels", help="match only channels A:B")
    p.add_argument("--size", type=int, help="image size in pixels (default: the model's input size)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--method", choices=("optimisation", "learned", "hybrid"), default="optimisation",
                   help="optimisation (default); learned: one pass of a trained inverter; hybrid: optimisation "
                        "started from the inverter's reconstruction")
    p.add_argument("--inverter", help="inverter file for --method learned/hybrid (default: the bundled one for "
                   "this model and layer; 'preimage train-inverter' makes others)")
    _add_run_args(p, "preimage-out")


def _stem(s: str) -> str:
    from pathlib import Path

    return s.split(":", 1)[1] if s.startswith("sample:") else Path(s).stem


@command("invert", "reconstruct images from the code of a layer by optimisation",
         "preimage invert sample:astronaut sample:coffee --model refnet --layer conv3 --samples 3 --out out/")
def cmd_invert(a):
    import time

    import torch

    from . import _io
    from .images import encode_png, load_image
    from .optimize import invert
    from .optimize.objectives import parse_channels
    from .errors import ConfigError
    from .optimize.presets import get_preset
    from .report import grid, heatmap

    preset = get_preset(a.preset or ("hybrid" if a.method == "hybrid" else "default"))
    channels = parse_channels(a.channels)
    if a.inverter and a.method == "optimisation":
        raise ConfigError("--inverter goes with --method learned or hybrid")
    rep = _build_rep(a)
    device = torch.device(a.device) if a.device else torch.device("cpu")
    rep = rep.to(device)
    size = rep.input_size
    inverter = None
    if a.method != "optimisation":
        from .learned.apply import resolve_inverter

        if a.method == "learned" and (a.samples > 1 or a.window or channels):
            raise ConfigError("--method learned decodes the whole code once; --samples, --window and --channels "
                              "are for optimisation and hybrid")
        inverter = resolve_inverter(rep, a.inverter, a.size).to(device)
        size = inverter.image_size
    images = torch.stack([load_image(s, size) for s in a.images]).to(device)
    t0 = time.time()
    if a.method == "optimisation":
        res = invert(rep, images, preset=preset, iters=a.iters, samples=a.samples, window=a.window,
                     channels=channels, seed=a.seed)
    elif a.method == "learned":
        from .learned.apply import decode

        res = decode(rep, inverter, images)
    else:
        from .learned.apply import hybrid

        res = hybrid(rep, inverter, images, preset=preset, iters=a.iters, samples=a.samples, window=a.window,
                     channels=channels, seed=a.seed)
    seconds = time.time() - t0
    im = res.image_metrics()
    out = {"model": a.model, "layer": a.layer, "representation": rep.name, "method": a.method,
           "inverter": inverter.path if inverter else None, "preset": res.preset, "iters": res.iterations,
           "seconds": round(seconds, 3), "samples": a.samples, "seed": a.seed, "size": size,
           "window": a.window, "channels": a.channels, "objective": res.objective, "images": []}
    rows, labels = [], []
    with _io.StagedDir(a.out) as d:
        for i, src in enumerate(a.images):
            stem = f"{i:02d}_{_stem(src)}_{(a.layer or rep.name).replace('/', '_').replace('.', '_')}"
            row = [images[i].cpu()]
            for k in range(a.samples):
                name = f"{stem}_s{k}.png"
                (d / name).write_bytes(encode_png(res.images[i, k]))
                row.append(res.images[i, k].cpu())
                out["images"].append({"input": src, "output": name, "sample": k,
                                      "feature_error": float(res.feature_error[i, k]),
                                      "image_error": float(im["image_error"][i, k]),
                                      "psnr": float(im["psnr"][i, k]), "ssim": float(im["ssim"][i, k])})
            if a.samples > 1:
                name = f"{stem}_std.png"
                (d / name).write_bytes(encode_png(heatmap(res.std[i])))
                out["images"][-1]["std"] = name
                row.append(heatmap(res.std[i]))
            rows.append(row)
            labels.append(_stem(src))
        cols = ["original"] + [f"sample {k}" for k in range(a.samples)] + (["std"] if a.samples > 1 else [])
        (d / "side_by_side.png").write_bytes(encode_png(grid(rows, cols, labels)))
        out["side_by_side"] = "side_by_side.png"
        import json
        (d / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    for r in out["images"]:
        print(f"{r['input']:<24} sample {r['sample']}  feature_error {r['feature_error']:.4f}  "
              f"image_error {r['image_error']:.4f}  psnr {r['psnr']:.2f}  ssim {r['ssim']:.3f}")
    print(f"wrote {len(out['images'])} reconstructions, side_by_side.png and results.json to {a.out} ({seconds:.1f}s)")


# ---------------------------------------------------------------- demo
DEMO_IMAGES = ("sample:astronaut", "sample:coffee", "sample:chelsea")


def _p_demo(p):
    p.add_argument("--model", default="refnet", help="model (default refnet, bundled)")
    p.add_argument("--weights", help="weights file")
    p.add_argument("--mean", help=argparse.SUPPRESS)
    p.add_argument("--std", help=argparse.SUPPRESS)
    p.add_argument("--random-weights", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--images", nargs="+", default=list(DEMO_IMAGES), help="images (default: three scikit-image photos)")
    p.add_argument("--layers", help="comma-separated layers (default: conv1 ... fc8)")
    _add_run_args(p, "preimage-demo", "iterations per layer (default: the preset's)")


@command("demo", "invert three photos from every layer of the bundled network and write an HTML report",
         "preimage demo --out preimage-demo")
def cmd_demo(a):
    import json
    import time

    import torch

    from .analysis.sweep import default_layers, layer_sweep
    from .images import load_image
    from .optimize.presets import get_preset
    from .report import layers_page
    from . import _io

    preset = get_preset(a.preset or "default")
    info = _load_model(a)
    size = info.input_size
    images = torch.stack([load_image(s, size) for s in a.images])
    layers = a.layers.split(",") if a.layers else default_layers(info)
    names = [_stem(s) for s in a.images]
    t0 = time.time()
    results = layer_sweep(info, images, layers, preset=preset, iters=a.iters, seed=a.seed)
    hog_html, hog_png, hog_rec = _demo_hog(a.images, names, a.seed, a.iters)
    learned_html, learned_png, learned_rec = _demo_learned(info, images, names, results)
    seconds = time.time() - t0
    meta = (f"model {info.name}, input {size}x{size}, preset {preset.name}, {results[0].iterations} iterations "
            f"per layer, seed {a.seed}, {seconds:.0f} s in all. Command: preimage demo"
            + (f" --model {a.model}" if a.model != "refnet" else ""))
    learned_by_layer = {r["layer"]: r["image_error_mean"] for r in learned_rec}
    series = ({"image error, trained inverter": [learned_by_layer.get(r.layer) for r in results]}
              if learned_rec else None)
    pages = layers_page.render(results, images, names, f"What {info.name} keeps, layer by layer", meta,
                               extra_rows=learned_html + hog_html, extra_series=series)
    pages["hog.png"] = hog_png
    if learned_png is not None:
        pages["learned.png"] = learned_png
    out = {"model": info.name, "preset": preset.name, "iters": results[0].iterations, "size": size,
           "seconds": round(seconds, 2), "images": list(a.images),
           "layers": [{"layer": r.layer, "path": r.path, "shape": list(r.shape), "stride": r.stride,
                       "feature_error": [float(v) for v in r.feature_error],
                       "image_error": [float(v) for v in r.image_error],
                       "psnr": [float(v) for v in r.psnr], "ssim": [float(v) for v in r.ssim],
                       "feature_error_mean": float(r.feature_error.mean()),
                       "image_error_mean": float(r.image_error.mean()), "seconds": round(r.seconds, 2)}
                      for r in results],
           "grey_image_error": layers_page.grey_reference(images), "hog": hog_rec, "learned": learned_rec}
    with _io.StagedDir(a.out) as d:
        for name, data in pages.items():
            (d / name).write_bytes(data)
        (d / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'layer':<16} {'feature_error':>13} {'image_error':>11}")
    for r in out["layers"]:
        print(f"{r['layer']:<16} {r['feature_error_mean']:>13.4f} {r['image_error_mean']:>11.4f}")
    print(f"{'(grey image)':<16} {'':>13} {out['grey_image_error']:>11.4f}")
    print(f"{'hog':<16} {hog_rec['feature_error_mean']:>13.4f} {hog_rec['image_error_mean']:>11.4f}")
    for r in learned_rec:
        print(f"{r['layer'] + ' (learned)':<16} {r['feature_error_mean']:>13.4f} {r['image_error_mean']:>11.4f}")
    print(f"wrote {a.out}/report.html, layers.png, hog.png, " + ("learned.png, " if learned_png else "")
          + f"errors.png and results.json ({seconds:.0f}s)")


def _demo_learned(info, images, names, results):
    """The demo's trained-inverter section: for every swept layer with a bundled inverter, its
    one-pass reconstruction beside the optimisation's. Empty when no inverter fits."""
    from pathlib import Path

    from . import metrics
    from .errors import WeightsError
    from .images import encode_png
    from .learned import decode, find_bundled
    from .report import grid, html
    from .representations import CNNLayer

    used, recs = [], []
    for r in results:
        rep = CNNLayer(info.module, r.layer, info.mean, info.std, info.aliases, info.input_size,
                       name=f"{info.name}/{r.layer}")
        try:
            inv = find_bundled(rep, images.shape[-1])
        except WeightsError:
            continue
        out = decode(rep, inv, images)
        rec = out.images[:, 0]
        used.append((r, rec))
        recs.append({"layer": r.layer, "inverter": Path(inv.path).name,
                     "feature_error": [float(v) for v in out.feature_error[:, 0]],
                     "image_error": [float(v) for v in metrics.image_error(rec, images)],
                     "optimisation_image_error": [float(v) for v in r.image_error]})
        recs[-1]["feature_error_mean"] = sum(recs[-1]["feature_error"]) / len(names)
        recs[-1]["image_error_mean"] = sum(recs[-1]["image_error"]) / len(names)
    if not used:
        return "", None, []
    rows = []
    for i in range(len(names)):
        row = [images[i]]
        for r, rec in used:
            row += [r.images[i], rec[i]]
        rows.append(row)
    cols = ["original"] + [f"{r.layer} {m}" for r, _ in used for m in ("optim.", "learned")]
    png = encode_png(grid(rows, cols, names, min_side=96))
    section = ("<h2>Trained inverters</h2><p>The same codes decoded in one pass by the bundled up-convolutional "
               "inverters (Dosovitskiy &amp; Brox), beside the optimisation's reconstructions. A decoder returns the "
               "average image that would have produced the code (smooth, plausible colours); optimisation returns one "
               "image that matches the code closely (sharper, stranger). The decoder's image error is lower, its "
               "feature error higher.</p>"
               + html.figure(png, "Rows: images. Column pairs: optimisation, then learned, per layer.")
               + html.table(["layer", "image error: optimisation", "image error: learned", "feature error: learned"],
                            [[r["layer"], sum(r["optimisation_image_error"]) / len(names), r["image_error_mean"],
                              r["feature_error_mean"]] for r in recs], left=1))
    return section, png, recs


def _demo_hog(sources, names, seed, iters, size=128):
    """The demo's HOG section: grayscale photos, their HOG glyphs and the default inversion."""
    import torch

    from .analysis.evaluate import invert_grayscale
    from .images import encode_png, load_image, to_grayscale
    from .report import grid, html
    from .representations import HOG, glyphs

    rep = HOG()
    x = torch.stack([to_grayscale(load_image(s, size)) for s in sources])
    g = invert_grayscale(rep, x, iters=iters, seed=seed, batch=len(sources))
    phi0, rec, fe, ie = g.phi0, g.reconstructions, g.feature_error, g.image_error
    rows = [[x[i], glyphs(phi0[i], 8), rec[i]] for i in range(len(sources))]
    png = encode_png(grid(rows, ["grayscale", "HOG glyphs", "from HOG"], names, min_side=size))
    section = ("<h2>HOG</h2><p>The same photos in grayscale, inverted from HOG (8-pixel cells, 27 numbers per cell) "
               f"with the default preset at {size}x{size}. HOG keeps the local edge structure and throws away "
               "absolute brightness and colour; the reconstruction shows both.</p>"
               + html.figure(png, f"Feature error {float(fe.mean()):.3f}, image error {float(ie.mean()):.3f} (means).")
               )
    rec_json = {"size": size, "feature_error": [float(v) for v in fe], "image_error": [float(v) for v in ie],
                "feature_error_mean": float(fe.mean()), "image_error_mean": float(ie.mean())}
    return section, png, rec_json


# ---------------------------------------------------------------- evaluate
def _p_evaluate(p):
    p.add_argument("--rep", required=True, help="representation: hog, hogb, dsift, hog-dt (options as dsift:bin_size=5), "
                   "or a model spec with --layer")
    p.add_argument("--layer", help="layer, for a CNN")
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--mean", help=argparse.SUPPRESS)
    p.add_argument("--std", help=argparse.SUPPRESS)
    p.add_argument("--random-weights", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--data", required=True, help="folder of images (the first N in name order are used)")
    p.add_argument("--n", type=_positive("--n"), default=100)
    p.add_argument("--size", type=_positive("--size"), default=128, help="image size in pixels (default 128)")
    _add_run_args(p, "preimage-eval")


@command("evaluate", "the CVPR-2015 inversion protocol on a folder of images: error table and figure",
         "preimage evaluate --rep hog --data ../shared/data/imagenet-dev100 --n 100 --out eval-hog")
def cmd_evaluate(a):
    import json

    from . import _io
    from .analysis.evaluate import evaluate
    from .images import encode_png
    from .optimize.presets import get_preset
    from .report import grid
    from .representations import HOG, glyphs

    preset = get_preset(a.preset or "default")
    a.model = a.rep
    rep = _build_rep(a)
    ev = evaluate(rep, a.data, n=a.n, size=a.size, preset=preset, iters=a.iters, seed=a.seed)
    s = ev.summary
    rows = []
    for i in range(min(6, len(ev.files))):
        row = [ev.originals[i], ev.reconstructions[i]]
        if isinstance(rep, HOG):
            import torch
            with torch.no_grad():
                row.append(glyphs(rep(ev.originals[i:i + 1])[0], 8))
        rows.append(row)
    cols = ["original", f"from {rep.name}"] + (["HOG glyphs"] if isinstance(rep, HOG) else [])
    with _io.StagedDir(a.out) as d:
        (d / "evaluate.json").write_text(json.dumps(s, indent=2) + "\n")
        (d / "evaluate.png").write_bytes(encode_png(grid(rows, cols, min_side=a.size)))
        (d / "per_image.json").write_text(json.dumps(
            [{"file": f, "mv_error": float(e)} for f, e in zip(ev.files, ev.mv_errors)], indent=2) + "\n")
    print("| representation | method | preset | n | size | mv_error % | feature_error | image_error | s/image |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {s['representation']} | {s['method']} | {s['preset']} | {s['n']} | {s['size']} | "
          f"{100 * s['mv_error_mean']:.2f} +- {100 * s['mv_error_std']:.2f} | {s['feature_error_mean']:.4f} | "
          f"{s['image_error_mean']:.4f} | {s['seconds_per_image']:.2f} |")
    print(f"wrote {a.out}/evaluate.json, evaluate.png and per_image.json")


PARSERS = {"demo": _p_demo, "evaluate": _p_evaluate, "invert": _p_invert, "layers": _p_layers, "train-classifier": _p_train_classifier,
           "eval-classifier": _p_eval_classifier}


from . import cli_learned  # noqa: E402,F401  (registers train-inverter, perturb, interpolate, sample)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line: ``preimage COMMAND: error: ...``, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="preimage",
        description="What an image representation keeps and what it throws away.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n" + "\n".join(f"  {ex}" for _, _, ex in COMMANDS.values()),
    )
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (fn, help_, example) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_.capitalize() + ".",
                           epilog="example:\n  " + example, formatter_class=argparse.RawDescriptionHelpFormatter)
        PARSERS[name](p)
        p.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
        p.set_defaults(func=fn)
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    ap = build_parser()
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:  # usage errors (2) and --help (0)
        return int(e.code or 0)
    a.argv = list(sys.argv[1:] if argv is None else argv)  # for commands that record how they were run
    if not getattr(a, "func", None):
        ap.print_help()
        return 2
    from . import progress

    progress.set_quiet(a.quiet)
    try:
        a.func(a)
    except PreimageError as e:
        print(f"preimage: error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("preimage: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    # ``python -m preimage.cli`` (as torchrun runs it): use the imported module, whose command table
    # the learned verbs registered into.
    from preimage.cli import main as _main

    sys.exit(_main())
