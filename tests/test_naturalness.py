"""Measures of naturalness (issue 26): a judge network's penultimate features, plausibility, the
MIS-style interpretability score, and ``maximize --judge --reference``."""

import json
import os

import pytest
import torch
from conftest import class_folder
from torch import nn

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.models.classifier import Classifier
from preimage.models.refnet import CIFAR10_CLASSES
from preimage.naturalness import extremes, interpretability, last_linear, penultimate, plausibility


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


def test_penultimate_is_the_input_of_the_last_linear_layer():
    net = Net()
    judge = Classifier(net, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x = torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    want = torch.relu(net.conv((x - 0.5) / 0.25)).mean((2, 3))
    got = penultimate(judge, x, batch=2)
    assert got.shape == (5, 8) and torch.allclose(got, want, atol=1e-6)
    assert last_linear(judge) is net.fc
    with pytest.raises(ConfigError, match="no linear layer"):
        last_linear(nn.Sequential(nn.Conv2d(3, 3, 1)))


def _clusters(n_per, centers, noise=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.cat([c + noise * torch.randn(n_per, len(c), generator=g) for c in centers])
    labels = torch.arange(len(centers)).repeat_interleave(n_per)
    return feats, labels


def test_plausibility_counts_own_class_neighbours():
    centers = torch.eye(3) + 0.1
    natural, labels = _clusters(6, centers)
    vis = centers.clone()
    p = plausibility(vis, torch.tensor([0, 1, 2]), natural, labels, k=4)
    assert torch.equal(p.same_class, torch.ones(3)) and bool(p.nearest.all())
    assert torch.allclose(p.chance, torch.full((3,), 1 / 3))
    wrong = plausibility(vis, torch.tensor([1, 2, 0]), natural, labels, k=4)
    assert float(wrong.same_class.max()) == 0 and not bool(wrong.nearest.any())
    r = p.record()
    assert r["k"] == 4 and r["same_class_of_k_nearest"] == 1.0 and r["nearest_neighbour_accuracy"] == 1.0


def test_interpretability_picks_the_most_activating_query():
    """Natural features along two directions; a unit's activation is the first coordinate. A
    visualization that looks like its top images scores 1, one like its bottom images 0."""
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 40)
    natural = torch.stack([t, 1 - t], 1) + 0.01 * torch.randn(40, 2, generator=g)
    acts = torch.stack([t, 1 - t], 1)                       # unit 7 likes t, unit 9 likes 1 - t
    like_top = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])   # (U=2, S=1, D)
    good = interpretability(like_top, natural, acts, [7, 9], trials=30)
    assert torch.equal(good.accuracy, torch.ones(2)) and float(good.probability.min()) > 0.9
    bad = interpretability(like_top.flip(0), natural, acts, [7, 9], trials=30)
    assert torch.equal(bad.accuracy, torch.zeros(2))
    # deterministic, and a unit's trials do not depend on its companions
    again = interpretability(like_top, natural, acts, [7, 9], trials=30)
    alone = interpretability(like_top[1:], natural, acts[:, 1:], [9], trials=30)
    assert torch.equal(good.probability, again.probability) and torch.equal(alone.probability, good.probability[1:])
    assert good.record()["chance"] == 0.5 and set(good.record()["per_unit"]) == {"7", "9"}


def test_extremes_need_enough_images_and_break_ties_by_index():
    top, bottom = extremes(torch.tensor([[1.0], [3.0], [3.0], [0.0]]), queries=2)
    assert top.tolist() == [[1, 2]] and bottom.tolist() == [[3, 0]]
    with pytest.raises(ConfigError, match="at least 20 natural images"):
        extremes(torch.zeros(19, 1), queries=10)


@pytest.fixture(scope="module")
def cifar_like(tmp_path_factory):
    """Two random images in each of refnet's ten class folders (20: the fewest the score takes)."""
    return class_folder(tmp_path_factory.mktemp("ref") / "data", CIFAR10_CLASSES, 2, 32, 3, "png", "{i:04d}")


def test_maximize_reports_naturalness_with_a_judge(tmp_path, capsys, cifar_like):
    out = tmp_path / "o"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--iters", "2",
                 "--judge", "cifar-resnet", "--reference", str(cifar_like), "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())["naturalness"]
    assert r["judge"] == "cifar-resnet" and r["reference"].endswith("(20 images)")
    assert 0 <= r["plausibility"]["same_class_of_k_nearest"] <= 1 and r["plausibility"]["chance"] == pytest.approx(0.1)
    assert 0 <= r["interpretability"]["accuracy"] <= 1 and len(r["interpretability"]["per_unit"]) == 10
    # channels: the score, no plausibility; without a judge, neither
    out2 = tmp_path / "c"
    assert main(["maximize", "--model", "refnet", "--layer", "conv5", "--channels", "0:2", "--iters", "2",
                 "--judge", "cifar-vgg", "--reference", str(cifar_like), "--quiet", "--out", str(out2)]) == 0
    r2 = json.loads((out2 / "results.json").read_text())["naturalness"]
    assert "plausibility" not in r2 and set(r2["interpretability"]["per_unit"]) == {"0", "1"}
    out3 = tmp_path / "n"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--iters", "2", "--quiet",
                 "--out", str(out3)]) == 0
    assert "naturalness" not in json.loads((out3 / "results.json").read_text())


def test_maximize_naturalness_on_cifar10(tmp_path, capsys):
    """The CIFAR-10 test folder where present (/work/shared/data; skipped elsewhere)."""
    folder = "/work/shared/data/cifar10/test"
    if not os.path.isdir(folder):
        pytest.skip("no CIFAR-10 test folder on this machine")
    out = tmp_path / "o"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--units", "3", "--iters", "2",
                 "--judge", "cifar-resnet", "--reference", folder, "--reference-images", "100", "--quiet",
                 "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())["naturalness"]
    assert r["reference"].endswith("(100 images)") and "plausibility" not in r
