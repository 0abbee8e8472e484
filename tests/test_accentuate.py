"""Feature accentuation (``preimage accentuate``) and diversity for ``maximize`` (issue 26, second slice)."""

import json

import pytest
import torch

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.images import load_image
from preimage.optimize.accentuate import KEEP, accentuate
from preimage.optimize.maximize import Diversity, gram_cosines, maximize, mean_pairwise
from preimage.optimize.objectives import Context
from preimage.representations import build

PHOTOS = ["sample:chelsea", "sample:coffee"]


@pytest.fixture(scope="module")
def conv5():
    return build("refnet", "conv5")


@pytest.fixture(scope="module")
def photos():
    return torch.stack([load_image(p, 32) for p in PHOTOS])


def test_accentuate_cli_writes_its_files_and_record(tmp_path, capsys):
    out = tmp_path / "acc"
    assert main(["accentuate", *PHOTOS, "--model", "refnet", "--layer", "fc8", "--class", "3", "--iters", "10",
                 "--quiet", "--out", str(out)]) == 0
    rec = json.loads((out / "results.json").read_text())
    assert rec["param"] == "fourier" and rec["iters"] == 10 and rec["keep"] == KEEP
    names = {"00_chelsea_accentuated.png", "00_chelsea_gradient.png", "01_coffee_accentuated.png",
             "01_coffee_gradient.png", "side_by_side.png", "results.json"}
    assert names <= {p.name for p in out.iterdir()}
    im = rec["images"][0]
    assert im["class"] == 3 and im["label"] == "cat" and im["activation_after"] > im["activation_before"]
    assert set(im) >= {"gain", "ssim", "image_error", "output", "gradient_map"}
    assert "gain" in capsys.readouterr().out


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_modest_keep_gains_and_huge_keep_stays_at_the_photo(conv5, photos, param):
    with torch.no_grad():
        f = conv5(photos)
    units = [int(v) for v in f[:, :, 4, 4].argmax(1)]
    r = accentuate(conv5, photos, units, param=param, iters=30, keep=100.0, show=False)
    assert (r.gain > 1.5).all() and (r.after > r.before).all()
    still = accentuate(conv5, photos, units, param=param, iters=30, keep=1e6, show=False)
    assert (still.ssim > 0.97).all() and (still.image_error < 0.05).all()
    # the gradient map: one per image, the photo's size, in [0, 1] with each image's max at 1
    g = r.gradient_map
    assert g.shape == (2, 32, 32) and float(g.min()) >= 0
    assert torch.allclose(g.flatten(1).amax(1), torch.ones(2))


def test_a_layer_penalty_keeps_that_layers_code_and_lets_the_pixels_go(conv5, photos):
    """--keep-layer: a strong penalty on conv1's code holds conv1 near the photo's (and the unit
    barely moves); without it the same run changes conv1 far more. The pixel penalty is not used."""
    units = [5, 7]
    rel = {}
    for keep in (0.0, 1e4):
        r = accentuate(conv5, photos, units, param="fourier", iters=30, keep=keep, keep_layer="conv1", show=False)
        assert r.keep_layer == "conv1"
        with torch.no_grad():
            a, b = (conv5.features_at(x, ["conv1"])["conv1"] for x in (r.images, photos))
        rel[keep] = float(((a - b).flatten(1).pow(2).mean(1) / b.flatten(1).pow(2).mean(1)).max())
    assert rel[1e4] < 0.02 < rel[0.0]
    free = accentuate(conv5, photos, units, param="fourier", iters=30, keep=30.0, keep_layer="conv1", show=False)
    assert (free.after > free.before).all()


def test_accentuation_is_per_image(conv5, photos):
    both = accentuate(conv5, photos, [5, 7], param="pixel", iters=5, show=False)
    one = accentuate(conv5, photos[1:], [7], param="pixel", iters=5, show=False)
    assert torch.allclose(both.images[1], one.images[0], atol=1e-5)


@pytest.mark.parametrize("args,needle", [
    (["--layer", "conv5", "--channel", "256"], "out of range"),
    (["--layer", "conv5", "--channel", "-1"], "out of range"),
    (["--layer", "fc8", "--class", "10"], "out of range"),
    (["--layer", "conv5", "--class", "3"], "--class is for the class scores"),
    (["--layer", "fc8", "--channel", "1", "--class", "3"], "exactly one of"),
    (["--layer", "fc8"], "exactly one of"),
    (["--layer", "fc8", "--class", "3", "--param", "maco"], "unknown --param"),
    (["--layer", "fc8", "--class", "3", "--keep", "-1"], "--keep"),
    (["--layer", "fc8", "--class", "3", "--keep-layer", "conv9"], "unknown layer"),
    (["--model", "hog", "--channel", "1", "--keep-layer", "conv3"], "--keep-layer needs a network"),
])
def test_bad_accentuate_input(tmp_path, capsys, args, needle):
    out = tmp_path / "o"
    model = [] if "--model" in args else ["--model", "refnet"]
    assert main(["accentuate", "sample:chelsea", *model, *args, "--iters", "2", "--quiet",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()


def test_gram_cosine_and_diversity_term():
    f = torch.rand(6, 4, 3, 3)
    cos = gram_cosines(f, 3)
    assert cos.shape == (2, 3, 3) and torch.allclose(torch.diagonal(cos, dim1=1, dim2=2), torch.ones(2, 3))
    sim = mean_pairwise(cos)
    assert sim.shape == (2,)
    # the term couples the samples of one unit only: changing unit 1's samples leaves unit 0's energies
    term = Diversity(3)
    a = term(_ctx(f))
    g = f.clone()
    g[3:] = torch.rand(3, 4, 3, 3)
    b = term(_ctx(g))
    assert torch.equal(a[:3], b[:3]) and not torch.equal(a[3:], b[3:])
    with pytest.raises(ConfigError):
        Diversity(1)


class _Feats:
    def __init__(self, f):
        self.f = f

    def features(self, x):
        return self.f


def _ctx(f):
    return Context(torch.zeros(len(f), 3, 2, 2), torch.zeros(1), _Feats(f), [None])


def test_diversity_lowers_the_samples_similarity(conv5):
    plain = maximize(conv5, [0, 1], samples=3, iters=40, seed=0, show=False, diversity=0.0)
    diverse = maximize(conv5, [0, 1], samples=3, iters=40, seed=0, show=False, diversity=10.0)
    assert plain.similarity is not None and diverse.similarity is not None
    assert float(diverse.similarity.mean()) < float(plain.similarity.mean()) - 0.03
    # without --diversity nothing is measured or recorded
    assert maximize(conv5, [0], samples=2, iters=2, show=False).similarity is None


def test_maximize_cli_records_diversity(tmp_path):
    out = tmp_path / "m"
    assert main(["maximize", "--model", "refnet", "--layer", "conv5", "--channels", "0:2", "--samples", "2",
                 "--diversity", "5", "--iters", "3", "--quiet", "--out", str(out)]) == 0
    div = json.loads((out / "results.json").read_text())["diversity"]
    assert div["weight"] == 5.0 and set(div["per_unit"]) == {"0", "1"} and 0 < div["mean_pairwise_gram_cosine"] <= 1


@pytest.mark.parametrize("extra", [[], ["--samples", "1"]])
def test_diversity_without_samples_is_refused(tmp_path, capsys, extra):
    out = tmp_path / "m"
    assert main(["maximize", "--model", "refnet", "--layer", "conv5", "--channels", "0:2", "--diversity", "5",
                 *extra, "--iters", "2", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--samples" in err[0]
    assert not out.exists()
    with pytest.raises(ConfigError):
        maximize(build("refnet", "conv5"), [0], samples=1, diversity=1.0, iters=1, show=False)
