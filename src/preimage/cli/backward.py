"""Verbs of backward projection and diagnosis: ``project``, ``top-activations``, ``diagnose``."""

from __future__ import annotations

from ..data import stream_folder
from ..errors import LayerError
from ..jobs.projection import diagnose, project, top_activations
from ..parsing import parse_list, parse_range
from ..representations import CNNLayer
from .common import add_model_args, add_workers, build_rep, command, finish, load_model, output, positive


def _project_options(p):
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or sample:NAME")
    add_model_args(p)
    p.add_argument("--channel", type=int, help="project this channel's strongest activation")
    p.add_argument("--top", type=positive("--top"), help="project each image's N strongest channels, one by one")
    p.add_argument("--rule", choices=("deconvnet", "guided", "gradient"), default="deconvnet",
                   help="ReLU backward rule (default deconvnet)")
    p.add_argument("--out", default="preimage-project", help="output folder (default preimage-project)")


@command("project", "project a layer's activations back to pixels (DeconvNet, guided backprop or the gradient)",
         "preimage project sample:chelsea --model refnet --layer conv5 --top 4 --out proj", _project_options)
def cmd_project(a):
    rep = build_rep(a)
    with output(a, "project") as out:
        r = project(rep, a.images, channel=a.channel, top=a.top, rule=a.rule, model=a.model, layer=a.layer)
        finish(out, r, f"wrote {sum(len(s) for s in r.selections)} projections, side_by_side.png and results.json "
                       f"to {a.out}")


def _data_args(p):
    p.add_argument("--data", required=True, help="folder of images (searched recursively, name order) or tar shards")
    p.add_argument("--n", type=positive("--n"), help="N images, evenly spaced in name order (default: all)")
    p.add_argument("--batch-size", type=positive("--batch-size"), default=256)
    add_workers(p)
    p.add_argument("--skip-bad", action="store_true", help="skip and count unreadable images (default: stop, naming it)")


def _top_options(p):
    add_model_args(p)
    _data_args(p)
    p.add_argument("--channels", help="channels A:B (default 0:8)")
    p.add_argument("--k", type=positive("--k"), default=9, help="patches per channel (default 9)")
    p.add_argument("--out", default="preimage-top", help="output folder (default preimage-top)")


@command("top-activations", "the k dataset patches that excite each channel most, beside their DeconvNet projections",
         "preimage top-activations --model refnet --layer conv5 --data ../shared/data/cifar10/test --channels 0:8 "
         "--out top-conv5", _top_options)
def cmd_top(a):
    info = load_model(a)
    if not a.layer:
        raise LayerError(f"top-activations needs --layer; 'preimage layers {a.model}' lists them")
    rep = CNNLayer.from_info(info, a.layer)
    n = rep.output_shape(rep.input_size)[0]
    lo, hi = parse_range(a.channels or f"0:{min(8, n)}", "--channels", upper=n)
    with output(a, "top-activations") as out:
        stream = stream_folder(a.data, rep.input_size, a.batch_size, a.workers, a.n, a.skip_bad, desc="top activations")
        r = top_activations(info, rep, stream, list(range(lo, hi)), a.k, a.model)
        finish(out, r, f"wrote {a.out}/top_activations.png and results.json ({r.images} images, receptive field "
                       f"{r.field} px" + (f", {len(stream.skipped)} unreadable skipped" if stream.skipped else "") + ")")


def _diagnose_options(p):
    add_model_args(p, layer=False, handcrafted=False)
    _data_args(p)
    p.add_argument("--layers", help="comma-separated layers (default: every addressable layer)")
    p.add_argument("--out", default="preimage-diagnose", help="output folder (default preimage-diagnose)")


@command("diagnose", "dead and rarely active channels of every layer over a folder: JSON and an HTML page",
         "preimage diagnose --model refnet --data ../shared/data/cifar10/test --out diagnose", _diagnose_options)
def cmd_diagnose(a):
    info = load_model(a)
    with output(a, "diagnose") as out:
        stream = stream_folder(a.data, info.input_size, a.batch_size, a.workers, a.n, a.skip_bad, desc="diagnosing")
        d = diagnose(info, stream, parse_list(a.layers, "--layers") if a.layers is not None else None,
                     first_image=stream.image(0))
        finish(out, d, f"wrote {a.out}/diagnose.json and diagnose.html ({d.images} images)")
