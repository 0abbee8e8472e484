"""diagnose finds planted dead channels exactly, judges only rectified layers (after the
non-linearity), sees residual blocks whose ReLU is functional; top-activations streams; the folder
stream is exact."""

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from preimage.cli import main
from preimage.data import TensorStream, stream_folder
from preimage.errors import ImageError
from preimage.images import load_image
from preimage.jobs.projection.diagnose import diagnose
from preimage.jobs.projection.top import TopK
from preimage.models import load_model
from preimage.models.info import ModelInfo
from preimage.report import present
from preimage.report.browser import check_page, find_browser, problems

CIFAR_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "test"


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for i in range(23):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    return d


def test_stream_is_the_same_with_workers_and_skips_or_names_a_corrupt_image(folder):
    a = [(i.clone(), x.clone()) for i, x in stream_folder(str(folder), 32, batch=5, workers=0, show=False)]
    b = [(i.clone(), x.clone()) for i, x in stream_folder(str(folder), 32, batch=5, workers=2, show=False)]
    assert len(a) == 5 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    (folder / "010_bad.png").write_bytes(b"not an image")
    for workers in (0, 2):
        with pytest.raises(ImageError, match="010_bad.png"):
            list(stream_folder(str(folder), 32, batch=5, workers=workers, show=False))
    s = stream_folder(str(folder), 32, batch=5, skip_bad=True, show=False)
    assert sum(len(i) for i, _ in s) == 23 and [Path(p).name for p in s.skipped] == ["010_bad.png"]


def test_topk_keeps_the_strongest_whatever_the_batching():
    torch.manual_seed(0)
    f = torch.randn(40, 3, 4, 4)
    one = TopK(3, 5)
    one.add(f, torch.arange(40))
    many = TopK(3, 5)
    for s in range(0, 40, 7):
        many.add(f[s:s + 7], torch.arange(s, min(s + 7, 40)))
    assert torch.equal(one.values, many.values) and torch.equal(one.index, many.index)
    best = f.flatten(2).amax(2).t().topk(5, dim=1)
    assert torch.equal(one.values, best.values) and torch.equal(one.index, best.indices)


def test_corrupt_image_and_bad_channels_in_the_commands(folder, tmp_path, capsys):
    (folder / "005_bad.jpg").write_bytes(b"\xff\xd8 broken")
    for cmd in (["diagnose", "--model", "refnet"], ["top-activations", "--model", "refnet", "--layer", "conv3"]):
        code = main([*cmd, "--data", str(folder), "--quiet", "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 2 and "005_bad.jpg" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    code = main(["top-activations", "--model", "refnet", "--layer", "conv3", "--channels", "250:300", "--data",
                 str(folder), "--quiet", "--out", str(tmp_path / "o")])
    assert code == 2 and "out of range" in capsys.readouterr().err
    code = main(["top-activations", "--model", "refnet", "--layer", "conv3", "--channels", "0:2", "--k", "3",
                 "--skip-bad", "--data", str(folder), "--quiet", "--out", str(tmp_path / "t")])
    assert code == 0
    r = json.loads((tmp_path / "t" / "results.json").read_text())
    assert r["images"] == 23 and len(r["channels"]) == 2 and len(r["channels"][0]["top"]) == 3


@pytest.mark.skipif(not CIFAR_TEST.is_dir(), reason="needs ../shared/data/cifar10/test")
def test_planted_dead_channels_are_found_exactly(tmp_path):
    files = sorted(CIFAR_TEST.rglob("*.jpg"))[::40]                 # 250 images over all ten classes
    sub = tmp_path / "sub"
    sub.mkdir()
    for f in files:
        os.symlink(f, sub / f"{f.parent.name}_{f.name}")
    info = load_model("refnet")
    planted = {"relu3": [3, 17, 40, 100, 200], "relu6": [5, 77, 300]}
    with torch.no_grad():
        info.module.features[9].bias[planted["relu3"]] = -1e4       # bn3 feeds relu3
        info.module.classifier[1].bias[planted["relu6"]] = -1e4     # fc6 feeds relu6
    # fc6 is asked for too: it is pre-activation (negative), so it gets no verdict. Before the fix it was
    # judged - and its output read after relu6 had rectified it in place.
    d = diagnose(info, stream_folder(str(sub), 32, batch=64, show=False), ["relu3", "fc6", "relu6"])
    # independently: run the network by hand and see which channels are ever above zero
    x = torch.stack([load_image(f, 32) for f in sorted(sub.iterdir())])
    x = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    with torch.no_grad():
        feats = info.module.features
        r3 = feats[:11](x)
        f6 = info.module.classifier[1](torch.flatten(feats(x), 1))
    never = {"relu3": set((r3.flatten(2).amax(2) <= 0).all(0).nonzero().flatten().tolist()),
             "relu6": set((f6 <= 0).all(0).nonzero().flatten().tolist())}
    for layer in ("relu3", "relu6"):
        assert d.layers[layer].judged
        assert set(planted[layer]) <= never[layer]
        assert set(d.layers[layer].dead) == never[layer]           # precision and recall 1
    assert not d.layers["fc6"].judged and d.layers["fc6"].dead == [] and d.layers["fc6"].low == pytest.approx(float(f6.min()))


@pytest.mark.skipif(not CIFAR_TEST.is_dir(), reason="needs ../shared/data/cifar10/test")
def test_planted_fc_units_add_exactly_to_those_dead_in_the_unmodified_network(tmp_path):
    """Killing fc6 units changes nothing else of relu6 (killing conv3 channels would: fc6 reads them)."""
    files = sorted(CIFAR_TEST.rglob("*.jpg"))[::40]
    info = load_model("refnet")
    stream = TensorStream(torch.stack([load_image(f, 32) for f in files]), [str(f) for f in files], batch=64)
    before = set(diagnose(info, stream, ["relu6"]).layers["relu6"].dead)
    with torch.no_grad():
        info.module.classifier[1].bias[[5, 77, 300]] = -1e4
    after = set(diagnose(info, stream, ["relu6"]).layers["relu6"].dead)
    assert after == before | {5, 77, 300}


class Block(nn.Module):
    """A residual block whose output is ``F.relu(x + bn2(conv2(relu(bn1(conv1(x))))))``: its ReLUs
    are functional, so no module's output but the block's own is rectified."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.relu(x + self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class SmallResNet(nn.Module):
    """A stem, two stages of two blocks (the second wider, with a 1x1 projection shortcut), a linear
    head; no aliases."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.layer1 = nn.Sequential(Block(8), Block(8))
        self.widen = nn.Conv2d(8, 12, 1, stride=2, bias=False)
        self.layer2 = nn.Sequential(Block(12), Block(12))
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = self.layer2(self.widen(self.layer1(x)))
        return self.head(x.mean((2, 3)))


BLOCKS = ("layer1.0", "layer1.1", "layer2.0", "layer2.1")


def _small_resnet():
    torch.manual_seed(0)
    net = SmallResNet().eval()
    with torch.no_grad():
        for m in net.modules():                 # BatchNorm with statistics of its own, not the identity
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        # planted: block outputs that never rise above zero (the residual input is bounded, the bias is not)
        net.layer1[0].bn2.bias[[2, 5]] = -1e4
        net.layer2[1].bn2.bias[[0, 7, 11]] = -1e4
    return ModelInfo(net, "small-resnet", input_size=16)


def test_residual_blocks_with_functional_relus_are_judged_exactly():
    """Without aliases every named module is a candidate, containers too: a block ending in F.relu is
    judged, and its dead channels equal those counted by hand; pre-activation modules get no verdict."""
    info = _small_resnet()
    x = torch.rand(70, 3, 16, 16)
    x[:35] = x[:35] ** 3                         # two kinds of images, streamed in uneven batches
    d = diagnose(info, TensorStream(x, [str(i) for i in range(70)], batch=32))
    # independently: forward hooks straight on the blocks, the whole set at once
    outs = {}
    named = dict(info.module.named_modules())
    handles = [named[b].register_forward_hook(lambda m, i, o, b=b: outs.__setitem__(b, o.detach().clone()))
               for b in BLOCKS]
    with torch.no_grad():
        info.module(x)
    for h in handles:
        h.remove()
    for b in BLOCKS:
        never = set((outs[b].flatten(2).amax(2) <= 0).all(0).nonzero().flatten().tolist())
        st = d.layers[b]
        assert st.judged and st.low >= 0
        assert set(st.dead) == never, b
        assert st.active_fraction == pytest.approx((outs[b].flatten(2).amax(2) > 0).double().mean(0).tolist())
    assert {2, 5} <= set(d.layers["layer1.0"].dead) and {0, 7, 11} <= set(d.layers["layer2.1"].dead)
    assert d.layers["layer2"].dead == d.layers["layer2.1"].dead        # a container: its last block's output
    for pre in ("stem", "bn", "widen", "layer1.0.conv1", "layer1.0.bn2", "layer2.1.bn2", "head"):
        assert not d.layers[pre].judged and d.layers[pre].dead == [] and d.layers[pre].low < 0, pre
    rec = d.to_json()["layers"]
    assert rec["layer2.1.bn2"]["judged"] is False and "dead" not in rec["layer2.1.bn2"] and "negative" in rec["layer2.1.bn2"]["why"]
    assert rec["layer1.0"]["judged"] is True and rec["layer1.0"]["dead"] == d.layers["layer1.0"].dead
    # 70 images: one image is 1.4% of them, so "rare" (under 1%) cannot occur, and the record says so
    assert d.to_json()["rare_possible"] is False and "cannot occur" in d.to_json()["rare_note"]
    assert all(v.rare == [] for v in d.layers.values())
    more = diagnose(info, TensorStream(torch.rand(101, 3, 16, 16), [str(i) for i in range(101)], batch=64), ["layer1.0"])
    assert more.to_json()["rare_possible"] is True and "rare_note" not in more.to_json()


def test_refnet_pre_activation_layers_are_not_called_dead():
    """Over a few hundred images no conv, bn, fc before its ReLU or logits is called dead (before the fix
    conv2 and conv3 were, and bn was read after the in-place ReLU had rectified it); the ReLUs are judged."""
    info = load_model("refnet")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(300, 3, 32, 32, generator=g)
    x = F.avg_pool2d(x, 3, 1, 1)                 # a little spatial structure
    if CIFAR_TEST.is_dir():
        x[:150] = torch.stack([load_image(f, 32) for f in sorted(CIFAR_TEST.rglob("*.jpg"))[::67][:150]])
    d = diagnose(info, TensorStream(x, [str(i) for i in range(len(x))], batch=100))
    pre = [k for k in d.layers if re.match(r"(conv|bn|fc)\d", k)]
    assert len(pre) == 13                        # conv1-5, bn1-5, fc6, fc7, fc8 (the logits)
    for k in pre:
        assert not d.layers[k].judged and d.layers[k].dead == [] and d.layers[k].rare == [], k
        assert d.layers[k].low < 0, k            # bn too: read before relu rectifies it in place
    for k in ("relu1", "relu2", "relu3", "relu4", "relu5", "relu6", "relu7", "pool1", "pool2", "pool5"):
        assert d.layers[k].judged, k
    assert d.to_json()["rare_possible"] is True
    assert any("not judged" in line for line in d.lines())


def test_the_page_is_the_table_then_judged_histograms_then_dead_strips(tmp_path):
    info = _small_resnet()
    x = torch.rand(40, 3, 16, 16)
    d = diagnose(info, TensorStream(x, [str(i) for i in range(40)], batch=40),
                 ["stem", "layer1.0.bn2", "layer1.0", "layer1.1", "layer2.1", "head"], first_image=x[0])
    judged = [k for k, v in d.layers.items() if v.judged]
    assert judged == ["layer1.0", "layer1.1", "layer2.1"]
    page = present.figures(d)["diagnose.html"].decode()
    table, rest = page.split("</table>", 1)
    assert "<img" not in table and "<th>judged</th>" in table and "judged only if its output is never negative" in table
    assert "cannot occur" in table                                  # 40 images: no "rare"
    heads = re.findall(r"<h2>([^<]*)</h2>", rest)
    assert heads == ["How often each channel is active (judged layers)", "Dead channels projected to pixels"]
    hist, strips = rest.split("<h2>Dead channels projected to pixels</h2>")
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", hist)
    assert [c.split(":")[0] for c in captions] == judged           # one histogram per judged layer, titled once
    with_dead = [k for k in judged if d.layers[k].dead]
    assert [c.split(":")[0] for c in re.findall(r"<figcaption>([^<]*)</figcaption>", strips)] == with_dead
    assert set(d.blank) == set(with_dead) and "layer2.1" in with_dead
    out = tmp_path / "diagnose.html"
    out.write_text(page)
    b = find_browser()
    if b is None:
        if os.environ.get("PREIMAGE_REQUIRE_BROWSER") == "1":
            pytest.fail("PREIMAGE_REQUIRE_BROWSER=1 but no Chromium is installed")
        return
    findings = check_page(out, (1280, 800), browser=b)
    assert problems(findings) == [] and len(findings[800]["images"]) == len(judged) + len(with_dead)
