import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchrun import torchrun

from preimage.cli import main
from preimage.errors import ConfigError, WeightsError
from preimage.jobs.inversion import reconstruct
from preimage.jobs.studies import binarize, dropout, interpolate, perturb, sample_codes
from preimage.learned import Decoder, build_decoder, load_inverter, save_inverter
from preimage.learned.apply import decode, hybrid
from preimage.learned.training import train_inverter
from preimage.models import load_model
from preimage.representations import DSIFT, HOG, LBP, CNNLayer

REFNET_LAYERS = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]


@pytest.mark.parametrize("layer", REFNET_LAYERS)
def test_decoder_builds_for_every_refnet_layer(layer):
    info = load_model("refnet", pretrained=False)
    rep = CNNLayer(info.module, layer, info.mean, info.std, info.aliases, 32)
    dec = build_decoder(rep, 32, width=32, fc_width=64)
    with torch.no_grad():
        y = dec(rep(torch.rand(2, 3, 32, 32)))
    assert y.shape == (2, 3, 32, 32) and float(y.min()) >= 0 and float(y.max()) <= 1


@pytest.mark.parametrize("rep", [HOG(), HOG(soft=True), DSIFT(), LBP()], ids=["hog", "hogb", "dsift", "lbp"])
def test_decoder_builds_for_every_handcrafted_representation(rep):
    dec = build_decoder(rep, 64, width=32)
    with torch.no_grad():
        assert dec(rep(torch.rand(1, 3, 64, 64))).shape == (1, 3, 64, 64)


def test_decoder_refuses_features_of_another_shape():
    dec = Decoder((27, 8, 8), 64, width=16)
    with pytest.raises(ConfigError, match="27, 8, 8"):
        dec(torch.rand(1, 10, 8, 8))
    with pytest.raises(ConfigError):
        Decoder((3, 4), 32)


def test_a_few_steps_lower_the_pixel_loss():
    torch.manual_seed(0)
    rep = HOG()
    x = torch.rand(4, 3, 32, 32)
    f = rep(x)
    dec = build_decoder(rep, 32, width=16)
    opt = torch.optim.Adam(dec.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        loss = (dec(f) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


# ---------------------------------------------------------------- training, checkpoints, application


def _smooth_images(folder: Path, n: int = 24, side: int = 40, seed: int = 0) -> Path:
    """Low-frequency color images (random 5x5 fields upsampled): learnable in a few steps."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        small = (rng.random((5, 5, 3)) * 255).astype(np.uint8)
        Image.fromarray(small).resize((side + 8, side), Image.BICUBIC).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    return _smooth_images(tmp_path_factory.mktemp("imgs"))


def _train(rep, image_dir, out, steps=40, **kw):
    args = {"batch_size": 16, "lr": 3e-3, "width": 16, "fc_width": 64, "val_n": 4, "val_every": 5, "show": False,
            "log": lambda m: None}
    args.update(kw)
    return train_inverter(rep, str(image_dir), str(out), 32, steps, **args)


def test_short_training_lowers_the_loss_and_writes_inverter_checkpoint_and_summary(image_dir, tmp_path):
    out = tmp_path / "hog.safetensors"
    s = _train(HOG(), image_dir, out, steps=60)
    h = s["history"]
    assert h[-1]["train_loss"] < 0.9 * h[0]["train_loss"]
    assert h[-1]["val_mse"] < h[0]["val_mse"]
    assert out.is_file() and (tmp_path / "hog.safetensors.ckpt").is_file()
    summary = json.loads((tmp_path / "hog.safetensors.json").read_text())
    assert summary["steps"] == 60 and summary["world_size"] == 1 and summary["ranks_in_sync"]
    inv = load_inverter(out, HOG(), 32)
    assert inv.image_size == 32 and inv.training["steps"] == 60


def test_checkpoint_round_trips_and_resume_matches_an_uninterrupted_run(image_dir, tmp_path):
    rep = HOG()
    full = tmp_path / "full.safetensors"
    _train(rep, image_dir, full, steps=20, ckpt_every=10)

    class Stop(Exception):
        pass

    def log(m):
        if m.startswith("step 15/"):
            raise Stop

    cut = tmp_path / "cut.safetensors"
    with pytest.raises(Stop):
        _train(rep, image_dir, cut, steps=20, ckpt_every=10, log=log)
    assert not cut.exists()
    _train(rep, image_dir, cut, steps=20, ckpt_every=10, resume=True)
    a, b = load_inverter(full), load_inverter(cut)
    for k, v in a.decoder.state_dict().items():
        assert torch.equal(v, b.decoder.state_dict()[k]), k
    # save -> load gives the same decoder, bit for bit
    again = save_inverter(a.decoder, rep, tmp_path / "again.safetensors")
    c = load_inverter(again, rep)
    f = rep(torch.rand(3, 3, 32, 32))
    assert torch.equal(a(f), c(f))


def test_resume_with_other_settings_is_refused(image_dir, tmp_path):
    out = tmp_path / "x.safetensors"
    _train(HOG(), image_dir, out, steps=5)
    with pytest.raises(ConfigError, match="lr"):
        _train(HOG(), image_dir, out, steps=5, lr=1e-2, resume=True)
    with pytest.raises(WeightsError, match="no checkpoint"):
        _train(HOG(), image_dir, tmp_path / "none.safetensors", steps=5, resume=True)


@pytest.fixture(scope="module")
def hog_inverter(image_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("inv") / "hog32.safetensors"
    _train(HOG(), image_dir, out, steps=60)
    return out


def test_an_inverter_for_another_representation_is_refused(hog_inverter, tmp_path):
    with pytest.raises(WeightsError, match=r"trained for hog\(cell=8,orientations=9\), not for dsift\(bin_size=8"):
        load_inverter(hog_inverter, DSIFT(), 32)
    with pytest.raises(WeightsError, match=r"trained for hog\(cell=8.*not for hog\(cell=4"):
        load_inverter(hog_inverter, HOG(cell=4), 32)
    with pytest.raises(WeightsError, match="features of shape 27x4x4"):
        load_inverter(hog_inverter, HOG(), 64)
    info = load_model("refnet", pretrained=False)
    with pytest.raises(WeightsError, match="trained for hog"):
        load_inverter(hog_inverter, CNNLayer(info.module, "fc6", info.mean, info.std, info.aliases, 32))
    # classifier weights and damaged files are not inverters
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "weights.safetensors"))
    with pytest.raises(WeightsError, match="not a preimage inverter"):
        load_inverter(tmp_path / "weights.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(WeightsError, match="not a safetensors inverter"):
        load_inverter(tmp_path / "bad.safetensors")


def test_an_inverter_for_other_weights_of_the_same_network_is_refused(image_dir, tmp_path):
    info = load_model("refnet", pretrained=False)
    rep = CNNLayer(info.module, "fc8", info.mean, info.std, info.aliases, 32)
    out = tmp_path / "fc8.safetensors"
    _train(rep, image_dir, out, steps=2)
    load_inverter(out, rep)
    other = load_model("refnet", pretrained=False)
    with torch.no_grad():
        for p in other.module.parameters():
            p.add_(0.01)
    with pytest.raises(WeightsError, match="other weights"):
        load_inverter(out, CNNLayer(other.module, "fc8", other.mean, other.std, other.aliases, 32))


def test_learned_and_hybrid_reconstructions(hog_inverter, photos32):
    rep = HOG()
    inv = load_inverter(hog_inverter, rep, 32)
    learned = decode(rep, inv, photos32)
    assert learned.images.shape == (4, 1, 3, 32, 32) and learned.iterations == 0
    hyb = hybrid(rep, inv, photos32, iters=60, show=False)
    assert (hyb.feature_error < learned.feature_error).all()
    with pytest.raises(ConfigError, match="32x32"):
        decode(rep, inv, torch.rand(1, 3, 64, 64))
    # the convergence test reaches hybrid through the job; a learned pass has none to take
    full = reconstruct(rep, photos32[:1], "hybrid", inverter=inv, iters=40, converge=False, show=False)
    capped = reconstruct(rep, photos32[:1], "hybrid", inverter=inv, iters=40, converge=(5, 1.0), show=False)
    assert full.result.stopped is None and full.result.iterations == 40
    assert int(capped.result.stopped[0, 0]) < 40 and capped.records()[0]["iterations"] < 40
    with pytest.raises(ConfigError, match="--converge"):
        reconstruct(rep, photos32[:1], "learned", inverter=inv, converge=(30, 1e-3))


def test_binarize_keeps_which_units_are_active_and_two_values():
    f = torch.tensor([[2.0, -1.0, 4.0, -3.0, 0.0]])
    b = binarize(f)
    assert torch.equal(b > 0, f > 0)
    assert torch.allclose(b, torch.tensor([[3.0, -4 / 3, 3.0, -4 / 3, -4 / 3]]))
    relu = torch.relu(torch.randn(6, 50))
    br = binarize(relu)
    assert ((br == 0) == (relu == 0)).all() and all(len(set(r[r > 0].tolist())) <= 1 for r in br)


def test_dropout_and_marginal_sampling():
    f = torch.ones(200, 100)
    d = dropout(f, 0.5, torch.Generator().manual_seed(0))
    assert abs(float((d == 0).float().mean()) - 0.5) < 0.02 and abs(float(d.mean()) - 1.0) < 0.05
    codes = torch.arange(12.0).view(4, 3)  # column j holds values j, j+3, j+6, j+9
    s = sample_codes(codes, 50, torch.Generator().manual_seed(0))
    assert s.shape == (50, 3) and ((s - torch.arange(3.0)) % 3 == 0).all()
    assert len(set(s[:, 0].tolist())) > 1


def test_interpolation_ends_decode_the_two_codes(hog_inverter, photos32):
    rep = HOG()
    inv = load_inverter(hog_inverter, rep, 32)
    t, imgs = interpolate(rep, inv, photos32[0], photos32[1], 5)
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0] and imgs.shape == (5, 3, 32, 32)
    assert torch.allclose(imgs[0], inv(rep(photos32[:1]))[0], atol=1e-6)
    assert torch.allclose(imgs[-1], inv(rep(photos32[1:2]))[0], atol=1e-6)
    r = perturb(rep, inv, photos32)
    assert set(r["images"]) == {"clean", "binarized", "dropout", "mean code", "other image"}
    assert float(r["feature_error"]["clean"].max()) == 0.0 and float(r["feature_error"]["binarized"].min()) > 0


def test_cli_learned_verbs(hog_inverter, image_dir, tmp_path, capsys):
    inv = str(hog_inverter)
    assert main(["--quiet", "invert", "sample:astronaut", "--model", "hog", "--method", "learned", "--inverter", inv,
                 "--out", str(tmp_path / "l")]) == 0
    r = json.loads((tmp_path / "l" / "results.json").read_text())
    assert r["method"] == "learned" and r["size"] == 32 and r["images"][0]["image_error"] > 0
    assert main(["--quiet", "invert", "sample:astronaut", "--model", "hog", "--method", "hybrid", "--inverter", inv,
                 "--iters", "20", "--out", str(tmp_path / "h")]) == 0
    assert main(["--quiet", "perturb", "--model", "hog", "--inverter", inv, "--data", str(image_dir), "--n", "6",
                 "--out", str(tmp_path / "p")]) == 0
    p = json.loads((tmp_path / "p" / "perturb.json").read_text())
    assert set(p["modes"]) == {"clean", "binarized", "dropout", "mean code", "other image"} and p["n"] == 6
    assert main(["--quiet", "interpolate", "sample:astronaut", "sample:coffee", "--model", "hog", "--inverter", inv,
                 "--steps", "4", "--out", str(tmp_path / "i")]) == 0
    assert len(json.loads((tmp_path / "i" / "interpolate.json").read_text())["t"]) == 4
    assert main(["--quiet", "sample", "--model", "hog", "--inverter", inv, "--data", str(image_dir), "--samples", "3",
                 "--out", str(tmp_path / "s")]) == 0
    for d, f in (("p", "perturb.png"), ("i", "interpolate.png"), ("s", "sample.png")):
        assert (tmp_path / d / f).stat().st_size > 100
    capsys.readouterr()
    assert main(["--quiet", "invert", "sample:astronaut", "--model", "dsift", "--method", "learned",
                 "--inverter", inv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("preimage: error:") and "trained for hog" in err and "\n" not in err
    assert not (tmp_path / "x").exists()
    assert main(["--quiet", "invert", "sample:astronaut", "--model", "hog", "--inverter", inv,
                 "--out", str(tmp_path / "y")]) == 2
    assert main(["--quiet", "train-inverter", "--model", "hog", "--data", str(image_dir), "--size", "32", "--steps", "3",
                 "--width", "8", "--comparator", "nolayer", "--comparator-weight", "1", "--out", str(tmp_path / "z.st")]) == 2


def test_train_inverter_cli_with_a_comparator(image_dir, tmp_path):
    out = tmp_path / "c.safetensors"
    assert main(["--quiet", "train-inverter", "--model", "hog", "--data", str(image_dir), "--size", "32", "--steps", "4",
                 "--batch-size", "8", "--width", "8", "--comparator", "tests/tiny_models.py:tiny:conv2",
                 "--comparator-weight", "0.1", "--random-weights", "--out", str(out)]) == 0
    s = json.loads(out.with_name(out.name + ".json").read_text())
    assert s["comparator"] and s["comparator_weight"] == 0.1 and len(s["history"]) >= 1
    assert s["command"].startswith("preimage --quiet train-inverter --model hog")


def test_two_processes_under_torchrun_stay_in_sync(image_dir, tmp_path):
    out = tmp_path / "ddp.safetensors"
    r = torchrun(["train-inverter", "--model", "hog", "--data", str(image_dir), "--size", "32", "--steps", "8",
                  "--batch-size", "8", "--width", "8", "--val-n", "4", "--out", str(out)])
    assert r.returncode == 0, r.stderr[-2000:]
    s = json.loads(out.with_name(out.name + ".json").read_text())
    assert s["world_size"] == 2 and len(s["rank_checksums"]) == 2
    assert s["rank_checksums"][0] == s["rank_checksums"][1] and s["ranks_in_sync"]
    assert r.stdout.count("wrote ") == 1  # only rank 0 writes and reports
    load_inverter(out, HOG(), 32)


# ---------------------------------------------------------------- the bundled inverters
from preimage.learned import bundled_inverters, find_bundled  # noqa: E402
from preimage.representations import build  # noqa: E402

BUNDLED = [("hog", None, 64), ("lbp", None, 64), ("refnet", "conv2", 32), ("refnet", "conv5", 32),
           ("refnet", "fc6", 32), ("refnet", "relu6", 32), ("refnet", "fc7", 32), ("refnet", "fc8", 32)]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_every_bundled_inverter_is_found_for_its_representation_and_carries_its_training_record():
    assert len(bundled_inverters()) == len(BUNDLED)
    for model, layer, size in BUNDLED:
        rep = build(model, layer, size=size)
        inv = find_bundled(rep)
        assert inv.image_size == size
        assert inv.training["command"].startswith("preimage ") and inv.training["val_image_error"] > 0
    with pytest.raises(WeightsError, match="no bundled inverter for refnet/conv3"):
        find_bundled(build("refnet", "conv3", size=32))


def test_bundled_conv2_inverter_reconstructs_the_sample_photos_closely(photos32):
    rep = build("refnet", "conv2", size=32)
    out = decode(rep, find_bundled(rep), photos32)
    # conv2 keeps nearly everything: a decoder that had not learned would be far off
    assert float(out.image_metrics()["image_error"].max()) < 0.15


@pytest.mark.skipif(not (DATA / "cifar10" / "test").is_dir(), reason="needs ../shared/data/cifar10/test")
def test_bundled_fc6_inverter_beats_the_mean_color_on_held_back_cifar_images():
    from preimage.data import list_items
    from preimage.images import load_image

    files = list_items(str(DATA / "cifar10" / "test")).evenly_spaced(200).names
    x = torch.stack([load_image(f, 32) for f in files])
    rep = build("refnet", "fc6", size=32)
    err = decode(rep, find_bundled(rep), x).image_metrics()["image_error"].mean()
    flat = x.mean((2, 3), keepdim=True).expand_as(x)  # each image's own mean color: knows more than fc6 is given
    from preimage.metrics import image_error
    assert float(err) < float(image_error(flat, x).mean())


def test_validation_images_are_held_back_evenly_spaced(tmp_path):
    from preimage.data import split_items

    for c in ("a", "b"):
        _smooth_images(tmp_path / "data" / c, n=20, seed=ord(c))
    train, val = split_items(str(tmp_path / "data"), None, 256)
    assert len(val) == 2 and not set(train.names) & set(val.names) and len(train) == 38
    assert set(val.labels()) == {"a", "b"}  # both class folders represented
    _, val2 = split_items(str(tmp_path / "data"), str(tmp_path / "data"), 4)
    assert val2.labels() == ["a", "a", "b", "b"]
    # under torchrun each rank trains on its own share; together they are the training set
    shares = [split_items(str(tmp_path / "data"), None, 256, rank=r, world=2)[0] for r in (0, 1)]
    assert sorted(shares[0].names + shares[1].names) == sorted(train.names) and not set(shares[0].names) & set(shares[1].names)
