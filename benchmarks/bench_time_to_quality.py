"""Time to quality (issue 25, item 1): can some rule reach the default preset's 300-iteration mean
feature error in at most 100 iterations, on every stage of the bundled networks?

    python benchmarks/bench_time_to_quality.py                        # small budget: 4 images, 7 stages
    python benchmarks/bench_time_to_quality.py --n 16 --stages all    # the full check (long)
    python benchmarks/bench_time_to_quality.py --missing              # only rows not yet in the results file

Every candidate is the default preset's inversion rule (``Default.INVERT_*``: soft-ReLU backward,
PyramidAdam beta2 0.8, TV annealed 10w -> w/4, cosine learning rate to 2%, gray + 0.05 noise start,
per-image keyed starts as ``invert``) with one change, implemented here through the package's public
API (nothing under src/ is changed):

* ``default300``: the default, 300 iterations (its curve at 33/66/100/200/300 is the 300-iteration run's);
* ``default100``: the same rule with the schedule compressed to 100 iterations (``--iters 100``);
* ``lr x2`` / ``lr x3``: peak learning rate times 2 / 3;
* ``pyr 4->1``: pyramid weight per level annealed geometrically 4 -> 1 over the run (coarse first);
* ``beta2 0.6`` / ``beta2 0.95``: Adam's beta2;
* ``restarts``: two cosine cycles of 50 iterations (the second from half the peak), Adam state kept;
* ``lbfgs`` / ``lbfgs soft``: torch.optim.LBFGS (strong Wolfe, history 20) per image, every function
  evaluation counted as an iteration (100 in all), on the default's energy with the TV weight annealed
  per block of 10 evaluations; pixels clamped to the box after each block; ``soft``: with the soft-ReLU
  backward (the line search then sees a surrogate gradient);
* ``gauss-newton``: damped Gauss-Newton (Levenberg-Marquardt) on the default's energy, which is a
  least-squares code term plus TV^2, a quadratic: per step, 8 conjugate-gradient iterations on
  ``(2 J^T J / ||Phi0||^2 + w H_TV + mu I) d = -grad`` with J's products from ``torch.func`` (jvp,
  vjp), the step clamped to the box and kept per image only if it lowers the energy (mu / 3, else
  mu x 3); the TV weight annealed 10w -> w/4 over the steps. Each step counts 10 iterations (its
  vjp, 8 jvp + vjp pairs, the energy test), which undercounts its cost (its seconds say by how much);
* ``lowpass init``: the start noise low-passed (8x8 box blur, same RMS as the default's noise)
  instead of white;
* ``coarse start``: the start is gray + noise blurred, and the first third of iterations optimize a
  16x16 image bilinearly upsampled to 32x32 (a coarse parameterization), then full resolution.

Records the mean feature error ``||Phi(x) - Phi0|| / ||Phi0||`` at 33, 66, 100 (and 200, 300 for
the 300-iteration run) iterations, and the seconds of optimization to each checkpoint (the
checkpoint forwards themselves excluded). Writes benchmarks/results/time_to_quality.{json,txt}.
One torch thread (``--threads``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from preimage import metrics
from preimage.images import list_images, load_image
from preimage.keys import content_key, keyed
from preimage.models import load_model
from preimage.optimize import PyramidAdam
from preimage.optimize.loop import Stage, optimize, rescale_stages
from preimage.optimize.objectives import FeatureMatch, Selection, TotalVariation
from preimage.optimize.param import PixelParam
from preimage.optimize.presets import Default
from preimage.representations import CNNLayer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-dev100"
SMALL = {"refnet": ["conv3", "conv5", "fc6"], "cifar-resnet": ["stage2", "stage3"], "cifar-vgg": ["block2", "block3"]}
ALL = {"refnet": ["conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"],
       "cifar-resnet": ["conv1", "stage1", "stage2", "stage3", "pool", "logits"],
       "cifar-vgg": ["block1", "block2", "block3", "fc1", "logits"]}
CHECKS = (33, 66, 100, 150, 200, 300)
CANDIDATES = {
    "default300": {"iters": 300},
    "default100": {},
    "default150": {"iters": 150},
    "default200": {"iters": 200},
    "lr x2": {"lr_mult": 2.0},
    "lr x3": {"lr_mult": 3.0},
    "pyr 4->1": {"pyr_anneal": (4.0, 1.0)},
    "beta2 0.6": {"beta2": 0.6},
    "beta2 0.95": {"beta2": 0.95},
    "restarts": {"restarts": 2},
    "lowpass init": {"lowpass": True},
    "coarse start": {"coarse": 1 / 3},
    "lr x0.5": {"lr_mult": 0.5},
    "tv 3w->w/4": {"tv": (3.0, 0.25)},
    "tv 10w->w/16": {"tv": (10.0, 1 / 16)},
    "tv 30w->w/4": {"tv": (30.0, 0.25)},
    "beta1 0.95": {"beta1": 0.95},
    "lr floor 0.2": {"floor": 0.2},
    "lowpass + pyr 4->1": {"lowpass": True, "pyr_anneal": (4.0, 1.0)},
    "lbfgs": {"lbfgs": "plain"},
    "lbfgs soft": {"lbfgs": "soft"},
    "gauss-newton": {"gn": 8},
}


class AnnealedPyramidAdam(PyramidAdam):
    """PyramidAdam whose per-level weight goes geometrically from ``w0`` to ``w1`` over ``total`` steps."""

    def __init__(self, lr, betas, levels, w0, w1, total):
        super().__init__(lr, betas=betas, levels=levels, weight=w0)
        self.w0, self.w1, self.total, self.n = w0, w1, total, 0

    def step(self, u, g):
        p = min(self.n / max(self.total - 1, 1), 1.0)
        self.weight = self.w0 * (self.w1 / self.w0) ** p
        self.n += 1
        return super().step(u, g)


def _setup(rep, x, target, seed=0):
    preset = Default()
    keys = [keyed(seed, content_key(x[i]), 0) for i in range(len(x))]
    setup = preset.setup(rep, target, Selection(), tuple(x.shape[-2:]), torch.Generator().manual_seed(seed), keys=keys)
    return preset, setup


class Recorder:
    """Callback: the mean feature error at the checkpoints, and the optimization seconds to each."""

    def __init__(self, rep, target, image_fn, checks):
        self.rep, self.target, self.image_fn, self.checks = rep, target, image_fn, set(checks)
        self.t0 = time.perf_counter()
        self.excluded = 0.0
        self.curve = {}

    def __call__(self, step, e=None):
        it = step + 1
        if it not in self.checks:
            return
        t = time.perf_counter()
        with torch.no_grad():
            fe = metrics.feature_error(self.rep(self.image_fn().clamp(0, 1)), self.target)
        self.curve[it] = {"feature_error": float(fe.mean()), "max": float(fe.max()),
                          "seconds": t - self.t0 - self.excluded}
        self.excluded += time.perf_counter() - t


def run_adam(rep, x, iters=100, lr_mult=1.0, beta2=None, pyr_anneal=None, restarts=0, lowpass=False, coarse=0.0,
             tv=None, beta1=0.9, floor=None):
    with torch.no_grad():
        target = rep(x)
    preset, setup = _setup(rep, x, target)
    opt = setup.optimizer
    lr = preset.learning_rate(rep, target) * lr_mult
    b2 = beta2 if beta2 is not None else preset.INVERT_BETA2
    levels, w = preset.INVERT_PYRAMID
    if pyr_anneal is not None:
        opt = AnnealedPyramidAdam(lr, (beta1, b2), levels, pyr_anneal[0], pyr_anneal[1], iters)
    else:
        opt = PyramidAdam(lr, (beta1, b2), levels=levels, weight=w)
    if tv is not None:  # the TV weight annealed from tv[0] w to tv[1] w (w: the preset's per-depth weight)
        tw = preset.tv_weight(rep, target)
        setup.objective = FeatureMatch(target, Selection()) + TotalVariation(2.0, "mean").annealed(tv[0] * tw, tv[1] * tw)
    stages = rescale_stages(setup.stages, iters)
    stages = [Stage(s.iters, s.lr * lr_mult, s.jitter, s.decay if floor is None else floor) for s in stages]
    if restarts:
        per = iters // restarts
        stages = [Stage(per if k < restarts - 1 else iters - per * (restarts - 1), lr * 0.5 ** k, False, 0.02)
                  for k in range(restarts)]
    param = setup.param
    u0 = param.u.detach()
    if lowpass or coarse:
        noise = u0 - 0.5
        smooth = F.avg_pool2d(F.pad(noise, (4, 3, 4, 3), mode="circular"), 8, stride=1)
        smooth = smooth * (noise.flatten(1).std(1) / smooth.flatten(1).std(1).clamp_min(1e-12)).view(-1, 1, 1, 1)
        u0 = 0.5 + smooth
        param = PixelParam(u0, constraint="box")
    if coarse:
        n_c = int(round(iters * coarse))
        lrs = [s.lr_at(i) for s in stages for i in range(s.iters)]
        small = PixelParam(F.interpolate(u0, scale_factor=0.5, mode="bilinear", align_corners=False,
                                         antialias=True), constraint="box")
        view = _Upsampled(small, tuple(u0.shape[-2:]))
        rec = Recorder(rep, target, view.image, CHECKS)
        # phase 1: the first n_c steps optimize the 16x16 image seen through a bilinear upsampling
        optimize(view, _Shifted(setup.objective, 0, n_c, iters), opt, [Stage(1, v) for v in lrs[:n_c]], rep=rep,
                 transforms=setup.transforms, callback=rec, reset_on_lr_change=False, relu=setup.relu, show=False)
        # phase 2: full resolution from the upsampled result, a fresh optimizer state
        param = PixelParam(view.image().detach(), constraint="box")
        opt = PyramidAdam(lr, (beta1, b2), levels=levels, weight=w)
        rec.image_fn = lambda: param.u
        optimize(param, _Shifted(setup.objective, n_c, iters - n_c, iters), opt, [Stage(1, v) for v in lrs[n_c:]],
                 rep=rep, transforms=setup.transforms, callback=lambda step, e: rec(step + n_c, e),
                 reset_on_lr_change=False, relu=setup.relu, show=False)
        return rec.curve
    rec = Recorder(rep, target, lambda: param.u, CHECKS)
    optimize(param, setup.objective, opt, stages, rep=rep, transforms=setup.transforms, callback=rec,
             reset_on_lr_change=False, relu=setup.relu, show=False)
    return rec.curve


class _Upsampled:
    """A coarse PixelParam seen at full size through a bilinear upsampling (duck-types what the loop reads)."""

    def __init__(self, small, size):
        self.small, self.size = small, size
        self.u = small.u

    def image(self):
        return F.interpolate(self.small.u, size=self.size, mode="bilinear", align_corners=False)

    def project(self):
        self.small.project()


class _Shifted:
    """An objective whose annealing progress is global: this phase runs steps ``offset`` ..
    ``offset + n - 1`` of ``total``."""

    def __init__(self, obj, offset, n, total):
        self.obj, self.offset, self.n, self.total = obj, offset, n, total
        self.layers = obj.layers

    def __call__(self, ctx):
        ctx.progress = (self.offset + ctx.progress * max(self.n - 1, 1)) / max(self.total - 1, 1)
        return self.obj(ctx)

    def terms(self):
        return self.obj.terms()


def _start(rep, x):
    """The code of ``x``, the default preset's setup for it, its TV weight and TV anneal (first, last)."""
    with torch.no_grad():
        target = rep(x)
    preset, setup = _setup(rep, x, target)
    return target, preset, setup, preset.tv_weight(rep, target), preset.INVERT_TV


def run_lbfgs(rep, x, iters=100, mode="plain", block=10):
    """L-BFGS per image, ``iters`` function evaluations in all, TV annealed per block of evaluations."""
    target, preset, setup, w, (a, b) = _start(rep, x)
    u_all = setup.param.u.detach().clone()
    slope = preset.INVERT_RELU[1] if mode == "soft" else None
    curves = [_lbfgs_one(rep, u_all[i:i + 1], target[i:i + 1], iters, block, a * w, b * w, slope)
              for i in range(len(x))]
    out = {}
    for c in CHECKS:
        if c <= iters:
            fes = [cv[c][0] for cv in curves]
            out[c] = {"feature_error": sum(fes) / len(fes), "max": max(fes), "seconds": sum(cv[c][1] for cv in curves)}
    return out


def _lbfgs_one(rep, u0, t_i, iters, block, tv0, tv1, slope):
    """One image: {checkpoint: (feature error, seconds)}."""
    from preimage.backward import relu_rule

    u = u0.clone().requires_grad_(True)
    evals, excl, weight, curve = [0], [0.0], [tv0], {}
    t0 = time.perf_counter()
    opt = torch.optim.LBFGS([u], lr=1.0, max_iter=block, max_eval=block, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)

    def closure():
        opt.zero_grad()
        img = u.clamp(0, 1)
        e = ((rep(img) - t_i) ** 2).sum() / (t_i ** 2).sum() + weight[0] * _tv(img)
        e.backward()
        evals[0] += 1
        if evals[0] in CHECKS:
            t = time.perf_counter()
            with torch.no_grad():
                fe = float(metrics.feature_error(rep(u.clamp(0, 1)), t_i).mean())
            curve[evals[0]] = (fe, t - t0 - excl[0])
            excl[0] += time.perf_counter() - t
        return e

    ctx = relu_rule("soft", slope, model=rep.network) if slope else contextlib.nullcontext()
    with ctx:
        while evals[0] < iters:
            weight[0] = tv0 * (tv1 / tv0) ** (evals[0] / max(iters - 1, 1))
            before = evals[0]
            group = opt.param_groups[0]
            group["max_eval"] = group["max_iter"] = min(block, iters - evals[0])
            opt.step(closure)
            with torch.no_grad():
                u.clamp_(0, 1)
            if evals[0] == before:  # converged / no progress
                break
    with torch.no_grad():
        fe = float(metrics.feature_error(rep(u.clamp(0, 1)), t_i).mean())
    for c in CHECKS:
        if c <= iters and c not in curve:
            curve[c] = (fe, time.perf_counter() - t0 - excl[0])
    return curve


def run_gauss_newton(rep, x, iters=100, cg=8, mu0=1e-2):
    """Damped Gauss-Newton per image (batched, every decision per image), ``iters // (cg + 2)`` steps."""
    from torch.func import jvp, vjp

    from preimage.optimize.priors import total_variation

    target, preset, setup, w, (a, b) = _start(rep, x)
    u = setup.param.u.detach().clone()
    s = (target ** 2).flatten(1).sum(1)
    sv = s.view(-1, *[1] * (target.dim() - 1))
    mu = torch.full((len(x), 1, 1, 1), mu0)
    steps = max(1, iters // (cg + 2))

    def dot(p, q):
        return (p * q).flatten(1).sum(1).view(-1, 1, 1, 1)

    def tv_hv(v):  # TV^2 is quadratic: its gradient at v is its Hessian times v
        v = v.detach().requires_grad_(True)
        with torch.enable_grad():
            g, = torch.autograd.grad(total_variation(v, 2.0, "mean").sum(), v)
        return g

    def energy(z, lam):
        with torch.no_grad():
            return ((rep(z) - target) ** 2).flatten(1).sum(1) / s + lam.flatten() * total_variation(z, 2.0, "mean")

    t0, excl, curve, done = time.perf_counter(), 0.0, {}, 0
    for k in range(steps):
        lam = torch.full((len(x), 1, 1, 1), w * a * (b / a) ** (k / max(steps - 1, 1)))
        out, vjp_fn = vjp(rep, u)
        g = 2 * vjp_fn((out - target).detach() / sv)[0] + lam * tv_hv(u)

        def apply(v, u=u, vjp_fn=vjp_fn, lam=lam, mu=mu):
            return 2 * vjp_fn(jvp(rep, (u,), (v,))[1] / sv)[0] + lam * tv_hv(v) + mu * v

        d, res = torch.zeros_like(u), -g
        p, rr = res.clone(), dot(res, res)
        for _ in range(cg):
            ap = apply(p)
            alpha = rr / dot(p, ap).clamp_min(1e-30)
            d, res = d + alpha * p, res - alpha * ap
            rr, rr_old = dot(res, res), rr
            p = res + rr / rr_old.clamp_min(1e-30) * p
        cand = (u + d).clamp(0, 1)
        ok = (energy(cand, lam) < energy(u, lam)).view(-1, 1, 1, 1)
        u = torch.where(ok, cand, u)
        mu = torch.where(ok, mu / 3, mu * 3)
        done += cg + 2
        t = time.perf_counter()
        with torch.no_grad():
            fe = metrics.feature_error(rep(u), target)
        for c in CHECKS:
            if c not in curve and (done >= c or k == steps - 1) and c <= iters:
                curve[c] = {"feature_error": float(fe.mean()), "max": float(fe.max()), "seconds": t - t0 - excl}
        excl += time.perf_counter() - t
    return curve


def _tv(img):
    """The default's TV term, ``TotalVariation(2.0, "mean")``, on one image (the package's own prior)."""
    from preimage.optimize.objectives import Context

    return TotalVariation(2.0, "mean")(Context(img, img))[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--stages", default="small", help="small (7 stages), all, or model:stage,model:stage")
    ap.add_argument("--candidates", default=",".join(CANDIDATES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--missing", action="store_true", help="keep rows already in the results file")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.stages in ("small", "all"):
        jobs = [(m, s) for m, ss in (SMALL if a.stages == "small" else ALL).items() for s in ss]
    else:
        jobs = [tuple(j.split(":")) for j in a.stages.split(",")]
    cands = a.candidates.split(",")
    out = Path(a.out)
    path = out / "time_to_quality.json"
    done = {}
    if a.missing and path.exists():
        done = {(r["model"], r["layer"], r["candidate"], r["n"]): r for r in json.loads(path.read_text())}
    x_all = torch.stack([load_image(f, 32) for f in list_images(DATA)[:a.n]])
    rows = list(done.values())
    models = {}
    for model, layer in jobs:
        if model not in models:
            models[model] = load_model(model)
        info = models[model]
        rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, 32, name=f"{model}/{layer}")
        for c in cands:
            if (model, layer, c, a.n) in done:
                continue
            kw = dict(CANDIDATES[c])
            t0 = time.perf_counter()
            if "gn" in kw:
                for p in rep.network.parameters():
                    p.requires_grad_(False)
                curve = run_gauss_newton(rep, x_all, kw.get("iters", 100), cg=kw["gn"])
            elif "lbfgs" in kw:
                curve = run_lbfgs(rep, x_all, kw.get("iters", 100), mode=kw["lbfgs"])
            else:
                curve = run_adam(rep, x_all, **kw)
            row = {"model": model, "layer": layer, "candidate": c, "n": a.n, "iters": kw.get("iters", 100),
                   "curve": {str(k): v for k, v in sorted(curve.items())}, "wall_seconds": time.perf_counter() - t0}
            rows = [r for r in rows if (r["model"], r["layer"], r["candidate"], r["n"]) != (model, layer, c, a.n)]
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("model", "layer", "candidate", "wall_seconds")}),
                  {k: round(v["feature_error"], 4) for k, v in curve.items()}, flush=True)
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(rows, indent=2) + "\n")
    text = report(rows, a.n)
    print(text)
    (out / "time_to_quality.txt").write_text(text + "\n")


def report(rows, n):
    rows = [r for r in rows if r["n"] == n]
    stages = list(dict.fromkeys((r["model"], r["layer"]) for r in rows))
    cands = list(dict.fromkeys(r["candidate"] for r in rows if r["iters"] == 100 or r["candidate"] == "default300"))
    longer = list(dict.fromkeys(r["candidate"] for r in rows if r["iters"] != 100 and r["candidate"] != "default300"))
    get = {(r["model"], r["layer"], r["candidate"]): r for r in rows}
    lines = [f"torch threads: {torch.get_num_threads()}; first {n} images of imagenet-dev100 at 32x32; mean feature "
             "error (seconds of optimization in parentheses)", "",
             "## At 100 iterations against the default's 300", "",
             "| stage | default @300 | default @100 (300-run) | " + " | ".join(c + " @100" for c in cands if c != "default300")
             + " |", "|---" * (3 + len(cands) - (1 if "default300" in cands else 0)) + "|"]
    wins = dict.fromkeys(cands, 0)
    for st in stages:
        ref = get.get((*st, "default300"))
        r300 = ref["curve"].get("300", {}).get("feature_error", math.nan) if ref else math.nan
        r100 = ref["curve"].get("100", {}).get("feature_error", math.nan) if ref else math.nan
        cells = [f"{st[0]} {st[1]}", f"{r300:.4f} ({ref['curve']['300']['seconds']:.1f})" if ref else "-",
                 f"{r100:.4f}"]
        for c in cands:
            if c == "default300":
                continue
            r = get.get((*st, c))
            if r is None or "100" not in r["curve"]:
                cells.append("-")
                continue
            v = r["curve"]["100"]
            ok = v["feature_error"] <= r300
            wins[c] += ok
            cells.append(f"{v['feature_error']:.4f}{' *' if ok else ''} ({v['seconds']:.1f})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "`*`: at or below the default's 300-iteration error on that stage. Stages matched, of "
              f"{len(stages)}: " + ", ".join(f"{c} {wins[c]}" for c in cands if c != "default300"), "",
              "## The default's schedule compressed to 150 / 200 iterations (final error; does it reach @300?)", ""]
    for st in stages:
        ref = get.get((*st, "default300"))
        r300 = ref["curve"]["300"]["feature_error"] if ref else math.nan
        cells = []
        for c in longer:
            r = get.get((*st, c))
            if r is not None:
                v = list(r["curve"].values())[-1]
                cells.append(f"{c} {v['feature_error']:.4f}{' *' if v['feature_error'] <= r300 else ''} "
                             f"({v['seconds']:.1f} s)")
        if cells:
            lines.append(f"- {st[0]} {st[1]} (@300 {r300:.4f}): " + "; ".join(cells))
    lines += ["", "## Curves (feature error at 33 / 66 / 100 / 150 / 200 / 300 iterations, where run; seconds at the last)",
              ""]
    for st in stages:
        for c in cands:
            r = get.get((*st, c))
            if r is None:
                continue
            pts = " / ".join(f"{r['curve'][str(k)]['feature_error']:.4f}" for k in CHECKS if str(k) in r["curve"])
            last = list(r["curve"].values())[-1]["seconds"]
            lines.append(f"- {st[0]} {st[1]}, {c}: {pts} ({last:.1f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
