"""``preimage atlas``: every unit of a network's layers on one static site."""

from __future__ import annotations

import contextlib

import torch

from ..jobs.atlas import Settings, Store, atlas, default_layers
from ..optimize.featurevis import PARAMS, check_param
from ..optimize.maximize import check_diversity
from ..parsing import parse_list, parse_range
from ..results import Output
from ..trainkit import distributed, finish_distributed
from .common import add_device, add_model_args, add_workers, command, device, finish, load_model, nonnegative, positive

DEFAULT = Settings()


def _options(p):
    add_model_args(p, layer=False, handcrafted=False)
    p.add_argument("--data", required=True, help="folder of images (searched recursively, name order) or tar shards "
                   "(under torchrun each process reads its own shards)")
    p.add_argument("--size", type=positive("--size"), help="input size in pixels (default: the model's)")
    p.add_argument("--n", type=positive("--n"), help="N images, evenly spaced in name order (default: all)")
    p.add_argument("--layers", help="comma-separated layers (aliases or module paths; default: every alias but "
                   "normalization, activation, pooling and dropout ones; without aliases the convolutions and linear "
                   "layers)")
    p.add_argument("--channels", help="units A:B of every layer (default: all)")
    p.add_argument("--k", type=positive("--k"), default=DEFAULT.k,
                   help=f"top and bottom images per unit (default {DEFAULT.k}; at most half the images)")
    p.add_argument("--param", default=DEFAULT.param, help=f"visualization parameterization: {', '.join(PARAMS)} "
                   f"(default {DEFAULT.param})")
    p.add_argument("--iters", type=positive("--iters"), default=DEFAULT.iters,
                   help=f"iterations per visualization (default {DEFAULT.iters})")
    p.add_argument("--samples", type=positive("--samples"), default=DEFAULT.samples, help="visualizations per unit (default 1)")
    p.add_argument("--diversity", type=nonnegative("--diversity", float), help="diversity weight between the samples "
                   "(needs --samples 2 or more)")
    p.add_argument("--accent-iters", type=positive("--accent-iters"), default=DEFAULT.accent_iters,
                   help=f"iterations of each unit's accentuation in its top image (default {DEFAULT.accent_iters})")
    p.add_argument("--rule", choices=("deconvnet", "guided"), default=DEFAULT.rule, help="projection of the top patches")
    p.add_argument("--batch-size", type=positive("--batch-size"), default=128)
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images (default: stop, naming it)")
    p.add_argument("--fresh", action="store_true", help="compute every layer again (default: reuse the layers a killed "
                   "or earlier run of the same settings finished)")
    p.add_argument("--out", default="preimage-atlas", help="the site's folder (default preimage-atlas)")
    add_device(p)


@command("atlas", "every unit of a network's layers on one browsable, self-contained site",
         "preimage atlas --model refnet --data ../shared/data/cifar10/test --layers conv5 --channels 0:16 --out atlas "
         "(two processes: torchrun --nproc_per_node 2 -m preimage.cli atlas ...)", _options)
def cmd_atlas(a):
    check_param(a.param)                  # all three before the model loads or --out is claimed
    check_diversity(a.diversity, a.samples)
    dev = device(a)
    info = load_model(a)
    layers = parse_list(a.layers, "--layers") if a.layers is not None else default_layers(info)
    channels = None
    if a.channels is not None:
        lo, hi = parse_range(a.channels, "--channels")
        channels = {name: list(range(lo, hi)) for name in layers}
    settings = Settings(k=a.k, param=a.param, iters=a.iters, samples=a.samples, diversity=a.diversity,
                        accent_iters=a.accent_iters, rule=a.rule, seed=a.seed)
    rank, world, created = distributed()
    if dev.type == "cuda" and dev.index is None and world > 1:   # under torchrun: one GPU per process, in turn
        dev = torch.device("cuda", rank % torch.cuda.device_count())
    info.module.to(dev)
    out = Output(a.out, "atlas", a.force) if rank == 0 else contextlib.nullcontext()
    with out:
        r = atlas(info, a.data, layers, a.out, channels, settings, n=a.n, batch=a.batch_size, workers=a.workers,
                  skip_bad=a.skip_bad, rank=rank, world=world, resume=not a.fresh)
        if rank == 0:
            assert isinstance(out, Output)
            units = sum(len(v.units) for v in r.layers.values())
            finish(out, r, f"wrote {a.out}/index.html: {len(r.layers)} layer(s), {units} unit(s) over {r.images} images"
                   + (f", {len(r.skipped)} unreadable skipped" if r.skipped else "")
                   + (f"; reused {', '.join(r.reused)}" if r.reused else ""))
            Store(a.out, r.identity).clear()  # the site holds every layer's data now: the work folder goes
    finish_distributed(world, created)
