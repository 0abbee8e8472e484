"""Verbs of backward projection: ``project``."""

from __future__ import annotations

from .common import add_model_args, build_rep, command, positive


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
    from .. import _io
    from ..backward.project import project

    rep = build_rep(a)
    _io.StagedDir.check(a.out, "project", a.force)
    r = project(rep, a.images, channel=a.channel, top=a.top, rule=a.rule, model=a.model, layer=a.layer)
    rec = r.save(a.out, force=a.force)
    for e in rec["images"]:
        print(f"{e['input']:<24} channel {e['channel']:>4}  activation {e['activation']:.3f}  at {tuple(e['place'])}")
    print(f"wrote {len(rec['images'])} projections, side_by_side.png and results.json to {a.out}")
