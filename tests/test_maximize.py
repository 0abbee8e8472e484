"""Activation maximization and caricatures (IJCV 2016) on the inversion engine."""

import json

import pytest
import torch
from torch import nn

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.jobs.natural import UnitImages
from preimage.optimize.maximize import (
    Caricature,
    Maximization,
    UnitActivation,
    caricature,
    maximize,
    natural_maxima,
    unit_ranks,
    unit_values,
)
from preimage.optimize.objectives import Context
from preimage.representations import CNNLayer


class Known(nn.Module):
    """conv1: a 1x1 convolution with known weights (channel c = (c + 1) * red), then a linear layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 1, bias=False)
        self.fc = nn.Linear(4, 3, bias=False)
        with torch.no_grad():
            self.conv1.weight.zero_()
            for c in range(4):
                self.conv1.weight[c, 0] = c + 1
            self.fc.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]))

    def forward(self, x):
        return self.fc(self.conv1(x).mean((2, 3)))


def test_unit_values_ranks_and_gradients_on_known_weights():
    net = Known()
    conv, fc = CNNLayer(net, "conv1", input_size=4), CNNLayer(net, "fc", input_size=4)
    x = torch.zeros(2, 3, 4, 4, requires_grad=True)
    with torch.no_grad():
        x[:, 0, 2, 2] = 0.5  # the center pixel (4 // 2 = 2) of the red channel
        x[:, 0, 0, 0] = 1.0
    units = torch.tensor([1, 3])
    f = conv(x)
    assert unit_values(f, units, "center").tolist() == [1.0, 2.0]             # (c + 1) * 0.5
    assert torch.allclose(unit_values(f, units, "mean"), torch.tensor([2 * 1.5, 4 * 1.5]) / 16)
    assert unit_ranks(f, units, "center").tolist() == [3, 1]
    obj = UnitActivation(units, "center", scale=torch.tensor([2.0, 4.0]))
    e = obj(Context(x, x, conv, obj.layers))
    assert e.tolist() == [-0.5, -0.5]
    (g,) = torch.autograd.grad(e.sum(), x)
    assert g[0, 0, 2, 2] == -1.0 and g[1, 0, 2, 2] == -1.0 and float(g.abs().sum()) == 2.0   # d/dx of -(c+1)x/s
    v = fc(x)
    assert unit_values(v, torch.tensor([2, 0]), "center").tolist() == pytest.approx([4 * 1.5 / 16, 1.5 / 16])


def test_natural_maxima_take_the_largest_over_images_and_positions():
    net = Known()
    rep = CNNLayer(net, "conv1", input_size=4)
    imgs = torch.zeros(3, 3, 4, 4)
    imgs[1, 0, 3, 0] = 0.25
    imgs[2, 0, 1, 1] = 0.75
    assert natural_maxima(rep, imgs, "center").tolist() == [0.75, 1.5, 2.25, 3.0]
    assert natural_maxima(rep, imgs, "mean", batch=2).tolist() == pytest.approx([0.75 / 16 * k for k in (1, 2, 3, 4)])


def test_caricature_objective_is_the_normalized_positive_code():
    net = Known()
    rep = CNNLayer(net, "fc", input_size=4)
    x0 = torch.rand(1, 3, 4, 4)
    phi0 = rep(x0).detach()
    obj = Caricature(phi0)
    expected = -(phi0.clamp_min(0) * phi0).sum() / phi0.pow(2).sum()
    assert torch.allclose(obj(Context(x0, x0, rep, obj.layers)), expected.view(1))


def test_a_units_image_does_not_depend_on_the_batch(tiny_model):
    rep = CNNLayer(tiny_model, "conv2", input_size=16, aliases=tiny_model.preimage_aliases)
    alone = maximize(rep, [5], iters=15, seed=3, show=False)
    batch = maximize(rep, [2, 5, 9], iters=15, seed=3, show=False)
    assert float((alone.images[0, 0] - batch.images[1, 0]).abs().max()) < 2e-3
    assert abs(float(alone.activation[0, 0]) - float(batch.activation[1, 0])) < 1e-3 * abs(float(alone.activation[0, 0]))


def test_maximization_raises_the_unit_and_caricature_gains(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "conv3", input_size=32, aliases=tiny_model.preimage_aliases)
    nat = natural_maxima(rep, photos32)
    m = maximize(rep, [0, 7], samples=2, iters=60, seed=0, normalizers=nat, show=False, param="pixel")
    assert m.images.shape == (2, 2, 3, 32, 32) and (m.rank == 1).all() and (m.normalized > 1).all()
    c = caricature(rep, photos32[:2], iters=40, show=False)
    assert (c.gain > 1).all() and float(c.images.min()) >= 0 and float(c.images.max()) <= 1


def test_the_default_preset_maximizes_with_maco_and_the_papers_in_pixels(tiny_model):
    rep = CNNLayer(tiny_model, "conv2", input_size=16, aliases=tiny_model.preimage_aliases)
    assert maximize(rep, [1], iters=2, show=False).param == "maco"      # the photos' spectrum at 16 px
    assert maximize(rep, [1], iters=2, show=False, preset="mv2016").param == "pixel"
    assert maximize(rep, [1], iters=2, show=False, param="pixel").param == "pixel"


def test_unit_out_of_range(tiny_model):
    rep = CNNLayer(tiny_model, "conv2", input_size=16, aliases=tiny_model.preimage_aliases)
    with pytest.raises(ConfigError, match="out of range.*32 channels"):
        maximize(rep, [40], iters=2, show=False)


@pytest.mark.parametrize("args,needle", [
    (["--layer", "fc8", "--classes", "10"], "out of range"),
    (["--layer", "conv5", "--channels", "250:300"], "out of range"),
    (["--layer", "fc8", "--units", "3", "--classes", "all"], "exactly one"),
    (["--layer", "conv5", "--units", "3", "--normalize-on", "EMPTY"], "no images"),
    (["--layer", "conv5", "--units", "3", "--position", "9,9"], "outside"),
])
def test_maximize_cli_bad_input(tmp_path, capsys, args, needle):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    code = main(["maximize", "--model", "refnet", *args, "--iters", "2", "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err
    assert not (tmp_path / "o").exists()


def test_maximize_and_caricature_commands_write_their_files(tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1,3", "--samples", "2", "--iters", "5",
                 "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert set(r) >= {"model", "layer", "preset", "iters", "seconds", "units"} and len(r["units"]) == 4
    for u in r["units"]:
        assert set(u) >= {"unit", "sample", "output", "activation", "normalized_activation", "rank"}
        assert (out / u["output"]).is_file()
    assert (out / "grid.png").is_file()
    out = tmp_path / "c"
    assert main(["caricature", "sample:coffee", "--model", "refnet", "--layer", "conv3", "--iters", "5", "--quiet",
                 "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["images"][0]["gain"] > 1 and (out / r["images"][0]["output"]).is_file()


def test_the_default_contrast_term_is_the_margin_of_the_strongest_competitor():
    net = Known()
    conv = CNNLayer(net, "conv1", input_size=4)
    x = torch.zeros(1, 3, 4, 4)
    x[:, 0, 2, 2] = 0.5                                    # channel c is (c + 1) * 0.5 at the center
    for unit, expected in ((1, -1.0 + 0.5 * 1.0), (3, -2.0)):   # unit 1 trails channel 3 by 1; unit 3 leads
        obj = UnitActivation(torch.tensor([unit]), "center", contrast=0.5)
        assert obj(Context(x, x, conv, obj.layers)).item() == pytest.approx(expected)


def test_a_unit_no_natural_image_activates_has_no_divisor_and_is_marked(tiny_model):
    """The divisor of each unit is recorded; where no natural image activates a unit (natural maximum
    <= 0) there is none - recorded as null, its normalized value the raw one, its grid label marked."""
    rep = CNNLayer(tiny_model, "conv2", input_size=16, aliases=tiny_model.preimage_aliases)
    nat = torch.full((32,), 2.0)
    nat[5], nat[9] = 0.0, -0.4                       # units 5 and 9: never above zero on the natural images
    m = maximize(rep, [2, 5, 9], samples=2, iters=2, seed=0, normalizers=nat, show=False)
    assert m.has_normalizer.tolist() == [True, False, False]
    assert float(m.normalizer[0]) == 2.0 and torch.isnan(m.normalizer[1:]).all()
    assert torch.allclose(m.normalized[0], m.activation[0] / 2.0) and torch.equal(m.normalized[1:], m.activation[1:])
    assert m.natural_max is not None and m.natural_max.tolist() == pytest.approx([2.0, 0.0, -0.4])
    r = UnitImages(m, "tiny", "conv2", "four photos", labels=None)
    rec = r.to_json()
    assert rec["not_normalized"] == [5, 9]
    by_unit = {u["unit"]: u for u in rec["units"]}
    assert by_unit[2]["normalizer"] == 2.0 and by_unit[2]["normalized_by"] == "largest activation on four photos"
    for u in (5, 9):
        assert by_unit[u]["normalizer"] is None and by_unit[u]["normalized_by"].startswith("none: no natural image activates")
        assert by_unit[u]["normalized_activation"] == by_unit[u]["activation"]
    assert "-0.4" in by_unit[9]["normalized_by"]
    assert not r.label(0, 0).endswith("raw") and r.label(1, 0).endswith("raw") and r.label(2, 1).endswith("raw")
    assert [line.endswith("no natural normalizer)") for line in r.lines()] == [False, False, True, True, True, True]
    # without normalizers nothing is divided, and the record says so
    plain = UnitImages(maximize(rep, [2], iters=2, show=False), "tiny", "conv2", "")
    assert plain.to_json()["units"][0]["normalizer"] is None and plain.label(0, 0).endswith("raw")
    assert plain.to_json()["units"][0]["normalized_by"].startswith("none: not normalized")


def test_long_names_keep_the_raw_mark_in_the_grid_label():
    m = Maximization([0, 1], torch.zeros(2, 1, 3, 4, 4), torch.tensor([[4.649], [1.0]]), torch.tensor([[4.649], [0.5]]),
                     torch.ones(2, 1, dtype=torch.long), torch.tensor([float("nan"), 2.0]), "center", "default", 1, 0.0,
                     natural_max=torch.tensor([-0.17, 2.0]))
    for name, want in (("frog", "frog 4.6 raw"), ("horse", "horse raw"), ("automobile", "automob. raw"),
                       ("a very long class", "a very. raw")):
        r = UnitImages(m, "m", "fc8", "photos", labels=[name, "other"])
        assert r.label(0, 0) == want and len(want) <= r.label_chars
        assert r.label(1, 0) == "other 0.5"


def test_classes_all_records_every_divisor_and_marks_those_without(tmp_path):
    """``maximize --classes all`` on refnet's logits: no scikit-image photo gives "horse" a positive logit
    (the reported case: normalized = raw = 4.649); every unit says what it was divided by."""
    out = tmp_path / "m"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--iters", "2", "--quiet",
                 "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert "horse" in {u["label"] for u in r["units"] if u["normalizer"] is None}
    assert r["not_normalized"] == [u["unit"] for u in r["units"] if u["normalizer"] is None]
    for u in r["units"]:
        if u["normalizer"] is None:
            assert u["normalized_activation"] == u["activation"] and u["normalized_by"].startswith("none:")
        else:
            assert u["normalizer"] > 0 and u["normalized_by"] == "largest activation on scikit-image photos"
            assert u["normalized_activation"] == pytest.approx(u["activation"] / u["normalizer"], rel=1e-5)


def test_natural_pre_images_at_another_size(tmp_path, capsys):
    """--size: maximize, caricature and accentuate at any size the layer's part of the network takes
    (issue 26: 32 to 224 px and more), one line where the network refuses it."""
    import json as _json

    from PIL import Image

    for verb, args in (("maximize", ["--channels", "0:2", "--param", "maco"]),
                       ("caricature", ["sample:chelsea", "--param", "maco"]),
                       ("accentuate", ["sample:chelsea", "--channel", "3"])):
        out = tmp_path / verb
        assert main([verb, *args, "--model", "refnet", "--layer", "conv5", "--size", "48", "--iters", "3", "--quiet",
                     "--out", str(out)]) == 0, capsys.readouterr().err
        r = _json.loads((out / "results.json").read_text())
        first = (r["units"] if verb == "maximize" else r["images"])[0]
        assert Image.open(out / first["output"]).size == (48, 48), (verb, first)
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--size", "48",
                 "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "48x48" in err and not (tmp_path / "no").exists()
