"""diagnose finds planted dead channels exactly; top-activations streams; the folder stream is exact."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from preimage.cli import main
from preimage.data import stream_folder
from preimage.jobs.projection.diagnose import diagnose
from preimage.jobs.projection.top import TopK
from preimage.models import load_model

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
    from preimage.errors import ImageError

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
        many.add(f[s:s + 7], torch.arange(s, s + 7))
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
    planted = {"relu3": [3, 17, 40, 100, 200], "fc6": [5, 77, 300]}
    with torch.no_grad():
        info.module.features[9].bias[planted["relu3"]] = -1e4       # bn3 feeds relu3
        info.module.classifier[1].bias[planted["fc6"]] = -1e4
    d = diagnose(info, stream_folder(str(sub), 32, batch=64, show=False), ["relu3", "fc6"])
    # independently: run the network by hand and see which channels are ever above zero
    from preimage.images import load_image

    x = torch.stack([load_image(f, 32) for f in sorted(sub.iterdir())])
    x = (x - torch.tensor(info.mean).view(1, 3, 1, 1)) / torch.tensor(info.std).view(1, 3, 1, 1)
    with torch.no_grad():
        feats = info.module.features
        r3 = feats[:11](x)
        f6 = info.module.classifier[1](torch.flatten(feats(x), 1))
    never = {"relu3": set((r3.flatten(2).amax(2) <= 0).all(0).nonzero().flatten().tolist()),
             "fc6": set((f6 <= 0).all(0).nonzero().flatten().tolist())}
    for layer in ("relu3", "fc6"):
        assert set(planted[layer]) <= never[layer]
        assert set(d.layers[layer].dead) == never[layer]           # precision and recall 1


@pytest.mark.skipif(not CIFAR_TEST.is_dir(), reason="needs ../shared/data/cifar10/test")
def test_planted_fc_units_add_exactly_to_those_dead_in_the_unmodified_network(tmp_path):
    """Killing fc6 units changes nothing else of fc6 (killing conv3 channels would: fc6 reads them)."""
    files = sorted(CIFAR_TEST.rglob("*.jpg"))[::40]
    info = load_model("refnet")
    from preimage.data import TensorStream
    from preimage.images import load_image

    stream = TensorStream(torch.stack([load_image(f, 32) for f in files]), [str(f) for f in files], batch=64)
    before = set(diagnose(info, stream, ["fc6"]).layers["fc6"].dead)
    with torch.no_grad():
        info.module.classifier[1].bias[[5, 77, 300]] = -1e4
    after = set(diagnose(info, stream, ["fc6"]).layers["fc6"].dead)
    assert after == before | {5, 77, 300}
