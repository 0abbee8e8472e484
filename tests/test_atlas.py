"""preimage atlas: streams that merge exactly, planted dead channels marked exactly, a site whose every
link resolves, a killed run that resumes without recomputing a finished layer and equals an
uninterrupted one, two torchrun processes that equal one, and bad input refused before any work."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load
from torchrun import torchrun

from preimage.cli import main
from preimage.data import make_shards, shard_pattern
from preimage.jobs.atlas import build
from preimage.streams import Histogram, Moments, Ranked, spread

NET = '''
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(self.conv2(F.relu(self.conv1(x))) + x)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.block = Block(6)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 5))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = self.block(x)
        return self.head(F.adaptive_avg_pool2d(x, 4))


def make():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.stem.weight.clamp_(-0.3, 0.3)
        net.block.conv2.bias[[1, 4]] = -1e4      # planted: these block outputs never rise above zero
    net.preimage_mean, net.preimage_std, net.preimage_input_size = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 16
    return net
'''


def _folder(root: Path, n: int = 12, side: int = 16, classes=("a", "b")) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / classes[i % len(classes)] / f"{i:03d}.png")
    return root


@pytest.fixture
def net(tmp_path):
    p = tmp_path / "net.py"
    p.write_text(NET)
    return f"{p}:make"


COMMON = ["--k", "3", "--iters", "3", "--accent-iters", "2", "--workers", "0", "--quiet"]


def _atlas(net, data, out, *extra):
    return main(["atlas", "--model", net, "--data", str(data), "--layers", "stem,block,head.1", "--out", str(out),
                 *COMMON, *extra])


def _files(site: Path):
    return {str(p.relative_to(site)): p for p in sorted(site.rglob("*")) if p.is_file() and not p.name.startswith(".")}


def _same_sites(a: Path, b: Path):
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    for name in fa:
        if name == "results.json":
            ra, rb = json.loads(fa[name].read_text()), json.loads(fb[name].read_text())
            for r in (ra, rb):
                r.pop("seconds"), r.pop("reused_layers")
                for v in r["layers"].values():
                    v.pop("seconds")
            assert ra == rb
        elif name.endswith(".safetensors"):
            ta, tb = load(fa[name].read_bytes()), load(fb[name].read_bytes())
            assert ta.keys() == tb.keys()
            for k in ta:
                if ta[k].is_floating_point() and k not in ("top.values", "bottom.values", "low"):
                    # sums in another order, activations of units batched with others: the last bits
                    assert torch.allclose(ta[k], tb[k], rtol=1e-5, atol=1e-7, equal_nan=True), (name, k)
                else:                          # pictures, indices, counts, the data's values: exact
                    assert torch.equal(ta[k], tb[k]), (name, k)
        else:
            assert fa[name].read_bytes() == fb[name].read_bytes(), name


def test_streams_merge_exactly_whatever_the_split():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g) * torch.tensor([1, 50, 1e-3, 1, 1.0])
    x[:, 3] = 0                       # a constant channel
    x[:, 4] = x[:, 4].clamp_min(0)    # a rectified one: many ties at zero
    idx = torch.arange(300)

    def run(parts):
        h, t, b, m = Histogram(5), Ranked(5, 7), Ranked(5, 7, largest=False), Moments(5, 2)
        for part in parts:
            h2, t2, b2, m2 = Histogram(5), Ranked(5, 7), Ranked(5, 7, largest=False), Moments(5, 2)
            for s in range(0, len(part), 23):
                j = part[s:s + 23]
                h2.add(x[j]), t2.add(x[j], idx[j]), b2.add(x[j], idx[j]), m2.add(x[j], x[j, :2])
            h.merge(h2), t.merge(t2), b.merge(b2), m.merge(m2)
        return h, t, b, m

    one = run([idx])
    for parts in ([idx[0::2], idx[1::2]], [idx.flip(0)[:100], idx.flip(0)[100:]]):
        other = run(parts)
        assert torch.equal(one[0].counts, other[0].counts) and torch.equal(one[0].exponent, other[0].exponent)
        assert torch.equal(one[1].index, other[1].index) and torch.equal(one[2].index, other[2].index)
        assert torch.allclose(one[3].correlation(), other[3].correlation(), atol=1e-12)
    h, t, b, m = one
    for c in range(5):                # the counts are the exact histogram over the bins chosen
        assert torch.equal(torch.histogram(x[:, c].double(), bins=h.edges(c))[0].long(), h.counts[c])
    assert torch.equal(t.values, x.t().topk(7, dim=1).values)
    ties = b.index[4].tolist()                                   # ties at zero: in the fixed order of spread()
    assert ties == sorted(ties, key=lambda i: int(spread(torch.tensor(i)))) and ties != sorted(ties)
    assert torch.allclose(m.correlation()[0, 0], torch.tensor(1.0, dtype=torch.float64))


def test_planted_dead_channels_are_marked_exactly_and_every_link_resolves(tmp_path, net):
    data = _folder(tmp_path / "imgs")
    site = tmp_path / "site"
    assert _atlas(net, data, site) == 0
    rec = json.loads((site / "results.json").read_text())
    # an independent count: run the network and see which block outputs never rise above zero
    spec = net.rsplit(":", 1)[0]
    ns: dict = {}
    exec(Path(spec).read_text(), ns)
    model = ns["make"]().eval()
    seen = []
    model.block.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
                     for p in sorted(data.rglob("*.png"))])
    with torch.no_grad():
        model(x)                              # the factory's normalization: mean 0, std 1
    never = {int(c) for c in (torch.cat(seen).amax((0, 2, 3)) <= 0).nonzero().flatten()}
    assert {1, 4} <= never
    assert rec["layers"]["block"]["judged"] and set(rec["layers"]["block"]["dead"]) == never
    assert not rec["layers"]["stem"]["judged"] and "dead" in rec["layers"]["stem"] and rec["layers"]["stem"]["dead"] == []
    assert rec["images"] == 12 and len(rec["layers"]["head.1"]["units"]) == 5
    # every link and picture of every page resolves to a file of the site
    pages = list(site.rglob("*.html"))
    assert len(pages) == 1 + 3 + 6 + 6 + 5
    for page in pages:
        text = page.read_text()
        refs = re.findall(r'(?:href|src)="([^"#]+)"', text) + re.findall(r"(?:href|src)='([^'#]+)'", text)
        assert refs or page.name != "index.html"
        for ref in refs:
            assert not re.match(r"[a-z]+:", ref), (page, ref)       # nothing outside the site
            assert (page.parent / ref).resolve().is_file(), (page, ref)
    layer = (site / "layers" / "block.html").read_text()
    assert layer.count('class="tile dead"') == len(never)
    assert not (tmp_path / ".site.atlas-work").exists()


def test_killed_after_its_first_layer_it_resumes_without_recomputing_it(tmp_path, net, monkeypatch):
    data = _folder(tmp_path / "imgs")
    assert _atlas(net, data, tmp_path / "whole") == 0
    done = []
    real_save, real_vis = build.Store.save_layer, build._visualize

    def save_then_die(self, a, k):
        real_save(self, a, k)
        done.append(a.name)
        raise KeyboardInterrupt

    monkeypatch.setattr(build.Store, "save_layer", save_then_die)
    assert _atlas(net, data, tmp_path / "site") == 130          # "preimage: interrupted"
    assert done == ["stem"] and not (tmp_path / "site").exists() and (tmp_path / ".site.atlas-work").is_dir()
    monkeypatch.setattr(build.Store, "save_layer", real_save)
    computed = []
    monkeypatch.setattr(build, "_visualize", lambda info, name, *a, **k: computed.append(name) or real_vis(info, name, *a, **k))
    assert _atlas(net, data, tmp_path / "site") == 0
    assert computed == ["block", "head.1"]
    assert json.loads((tmp_path / "site" / "results.json").read_text())["reused_layers"] == ["stem"]
    _same_sites(tmp_path / "whole", tmp_path / "site")
    # a re-run with the same layers reuses all of them from the site itself, the data named another way
    computed.clear()
    passes = []
    real_pass = build.stats_pass
    monkeypatch.setattr(build, "stats_pass", lambda *a, **k: passes.append(1) or real_pass(*a, **k))
    assert _atlas(net, tmp_path / "imgs" / ".." / "imgs", tmp_path / "site") == 0
    assert computed == [] and passes == []
    # other pictures (more iterations): every layer pictured again, the data's streams read from the site
    assert _atlas(net, data, tmp_path / "site", "--iters", "4") == 0
    assert computed == ["stem", "block", "head.1"] and passes == []
    rec = json.loads((tmp_path / "site" / "results.json").read_text())
    assert rec["images"] == 12 and rec["layers"]["block"]["dead"] == [1, 4] and "pass" not in rec["seconds"]


def test_two_torchrun_processes_over_shards_make_the_same_site_as_one(tmp_path, net):
    data = _folder(tmp_path / "imgs", n=16)
    (tmp_path / "sh").mkdir()
    shards = shard_pattern(make_shards(str(data), str(tmp_path / "sh" / "part"), per_shard=4, show=False))
    assert _atlas(net, shards, tmp_path / "one") == 0
    r = torchrun(["atlas", "--model", net, "--data", shards, "--layers", "stem,block,head.1",
                  "--out", str(tmp_path / "two"), *COMMON])
    assert r.returncode == 0, r.stderr[-3000:]
    _same_sites(tmp_path / "one", tmp_path / "two")


def test_an_unreadable_image_in_one_ranks_share_is_one_line_from_every_rank(tmp_path, net):
    """Under torchrun, rank 1 cannot read an image of its share: every rank stops with that error
    (trainkit.agree), rank 0 alone prints it, no rank prints a traceback, and nothing is written."""
    data = _folder(tmp_path / "imgs", n=8)
    (data / "b" / "003.png").write_bytes(b"not a png")      # index 5 of 8 in name order: rank 1's
    r = torchrun(["atlas", "--model", net, "--data", str(data), "--layers", "stem", "--out", str(tmp_path / "site"),
                  *COMMON])
    errors = [line for line in r.stderr.splitlines() if line.startswith("preimage: error:")]
    assert r.returncode != 0 and len(errors) == 1 and "003.png" in errors[0], r.stderr[-3000:]
    assert "[rank0]: Traceback" not in r.stderr and "[rank1]: Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "net.py"]


@pytest.mark.parametrize("bad", ["layer", "channels", "empty", "corrupt", "k"])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, net, capsys, bad):
    data = _folder(tmp_path / "imgs", n=4)
    args = ["atlas", "--model", net, "--data", str(data), "--layers", "stem", "--out", str(tmp_path / "site"), *COMMON]
    if bad == "layer":
        args[args.index("stem")] = "stem,nope"
    elif bad == "channels":
        args += ["--channels", "0:7"]
    elif bad == "empty":
        (tmp_path / "none").mkdir()
        args[args.index(str(data))] = str(tmp_path / "none")
    elif bad == "corrupt":
        (data / "a" / "999_bad.png").write_bytes(b"\x89PNG broken")
    # "k": the top 3 and the bottom 3 of 4 images would overlap
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("preimage: error:"), err
    assert {"layer": "nope", "channels": "0:7", "empty": "no images", "corrupt": "999_bad.png",
            "k": "use --k 2 or less"}[bad] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs", "net.py"] + (["none"] if bad == "empty" else [])


def test_a_size_the_whole_network_refuses_is_one_line_before_the_pass(tmp_path, capsys):
    """refnet's fc6 takes 32 px alone; the pass runs the network to its classes, so even a conv-only
    atlas at 48 px is refused up front (it was a traceback from the pass)."""
    data = _folder(tmp_path / "imgs", n=4)
    assert main(["atlas", "--model", "refnet", "--data", str(data), "--layers", "conv1", "--size", "48",
                 "--out", str(tmp_path / "site"), *COMMON]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "48x48 forward pass through the model failed" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imgs"]


def test_default_layers_are_the_units_not_their_bookkeeping(net):
    from preimage.jobs.atlas import default_layers
    from preimage.models import load_model

    assert default_layers(load_model("refnet")) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    resnet = default_layers(load_model("cifar-resnet"))
    assert {"stage1", "block2_1", "logits"} <= set(resnet) and not any(a.startswith(("bn", "relu", "pool")) for a in resnet)
    assert default_layers(load_model(net)) == ["stem", "block.conv1", "block.conv2", "head.1"]   # no aliases: module paths


def test_accuracy_of_a_share_counts_its_own_images(tmp_path):
    """A rank's pass compares its images' predictions with their own labels (global indices)."""
    from preimage.data import list_items
    from preimage.jobs.atlas.stats import stats_pass
    from preimage.models import load_model
    from preimage.models.classifier import Classifier

    info = load_model("refnet")
    data = _folder(tmp_path / "imgs", n=10, side=32, classes=("cat", "ship"))
    items = list_items(str(data))
    x = torch.stack([items.load(i, 32) for i in range(len(items))])
    with torch.no_grad():
        pred = Classifier.from_info(info).eval()(x).argmax(1)
    truth = torch.tensor([info.classes.index(v) for v in items.labels()])
    share = torch.arange(1, 10, 2)
    p = stats_pass(info, items, share, ["fc8"], 2, 32, batch=3, show=False)
    assert p.images == 5 and p.correct == int((pred[share] == truth[share]).sum())
