"""FGSM and PGD on [0, 1] images with the model's normalization inside."""

import json

import pytest
import torch
import torch.nn.functional as F

from preimage.attacks import Classifier, fgsm, outcome, parse_eps, pgd, quantize
from preimage.cli import main
from preimage.errors import ConfigError
from preimage.models import load_model


@pytest.fixture(scope="module")
def refnet():
    return Classifier.from_info(load_model("refnet"))


def test_fgsm_is_one_signed_gradient_step(refnet, photos32):
    x, y = photos32, refnet(photos32).argmax(1)
    xr = x.clone().requires_grad_(True)
    loss = F.cross_entropy(refnet.model((xr - refnet.mean) / refnet.std), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, xr)
    assert torch.allclose(fgsm(refnet, x, y, 2 / 255), (x + 2 / 255 * g.sign()).clamp(0, 1), atol=1e-6)


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_pgd_stays_in_the_ball_and_the_box_and_fools(refnet, photos32, norm):
    x, y = photos32, refnet(photos32).argmax(1)
    eps = 8 / 255 if norm == "inf" else 0.5
    adv = pgd(refnet, x, y, eps, steps=10, norm=norm, seed=1)
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "inf" else d.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5 and float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert bool(outcome(refnet, x, adv, y).success.all())
    assert torch.equal(pgd(refnet, x, y, eps, steps=10, norm=norm, seed=1), adv)   # same seed, same examples


def test_targeted_pgd_reaches_the_target_and_quantization_is_reported(refnet, photos32):
    x = photos32
    y = refnet(x).argmax(1)
    t = torch.full_like(y, 3)
    adv = pgd(refnet, x, t, 8 / 255, steps=20, targeted=True)
    o = outcome(refnet, x, adv, y, t)
    assert bool(o.success.all()) and (o.adv_label == 3).all()
    assert torch.equal(quantize(quantize(adv)), quantize(adv)) and float((quantize(adv) - adv).abs().max()) <= 0.5 / 255 + 1e-7


def test_eps_parsing():
    assert parse_eps("8/255") == pytest.approx(8 / 255) and parse_eps("0") == 0.0
    for bad in ("-1", "abc", "1/0", "inf", "nan"):
        with pytest.raises(ConfigError):
            parse_eps(bad)


@pytest.mark.parametrize("args,needle", [
    (["--eps", "-0.1"], ">= 0"), (["--eps", "eight"], "fraction"), (["--norm", "1"], "unknown norm"),
    (["--target", "10"], "out of range"), (["--method", "fgsm", "--norm", "2"], "L-infinity")])
def test_attack_command_bad_input(tmp_path, capsys, args, needle):
    code = main(["attack", "sample:coffee", "--model", "refnet", *args, "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_attack_command_writes_examples_and_both_rates(tmp_path):
    out = tmp_path / "a"
    assert main(["attack", "sample:coffee", "sample:chelsea", "--model", "refnet", "--eps", "4/255", "--steps", "5",
                 "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert {"success_rate", "success_rate_8bit"} <= set(r) and len(r["images"]) == 2
    for e in r["images"]:
        assert {"clean_label", "clean_confidence", "adv_label", "adv_confidence", "linf", "l2", "success",
                "success_8bit"} <= set(e) and (out / e["output"]).is_file()
        assert e["linf"] <= 4 / 255 + 1e-6


def _cifar_like(root, per_class=3):
    import numpy as np
    from PIL import Image

    from preimage.models.refnet import CIFAR10_CLASSES

    rng = np.random.default_rng(0)
    for c in CIFAR10_CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_robustness_and_transfer_commands(tmp_path, capsys):
    data = _cifar_like(tmp_path / "data")
    assert main(["robustness", "--model", "refnet", "--data", str(data), "--n", "20", "--eps", "0,2/255,8/255",
                 "--steps", "3", "--quiet", "--out", str(tmp_path / "r")]) == 0
    r = json.loads((tmp_path / "r" / "robustness.json").read_text())
    assert r["eps"] == pytest.approx([0, 2 / 255, 8 / 255]) and r["accuracy"][0] >= r["accuracy"][-1]
    assert main(["transfer", "--models", "refnet,cifar-resnet", "--data", str(data), "--n", "20", "--steps", "3",
                 "--quiet", "--out", str(tmp_path / "t")]) == 0
    t = json.loads((tmp_path / "t" / "transfer.json").read_text())
    assert set(t) >= {"models", "eps", "method", "n", "matrix"} and len(t["matrix"]) == 2 and len(t["matrix"][0]) == 2
    assert all(0 <= v <= 1 for row in t["matrix"] for v in row)


def test_transfer_refuses_models_of_different_input_sizes(tmp_path, capsys):
    data = _cifar_like(tmp_path / "data", 1)
    (tmp_path / "big.toml").write_text('model = "refnet"\nsize = 64\n')
    code = main(["transfer", "--models", f"refnet,{tmp_path / 'big.toml'}", "--data", str(data), "--quiet",
                 "--out", str(tmp_path / "u")])
    err = capsys.readouterr().err
    assert code == 2 and "different sizes" in err and len(err.strip().splitlines()) == 1


def _crops(n=96):
    from preimage.images import PHOTOS, load_image

    out = []
    for name in PHOTOS:
        big = load_image(f"sample:{name}", 128)
        out += [big[:, y:y + 32, x:x + 32] for y in range(0, 97, 32) for x in range(0, 97, 32)]
    return torch.stack(out[:n])


def test_fgsm_and_pgd_agree_with_foolbox(refnet):
    """32 photo crops (96 before, compared by accuracy): both attacks' images equal foolbox's, pixel
    for pixel (measured here: PGD's largest difference 0.0 after 10 steps; a gradient element at
    zero could take the other sign on another CPU, so PGD may differ in a few pixels there)."""
    fb = pytest.importorskip("foolbox", reason="foolbox is not installed (the test extras install it)")
    x = _crops(32)
    y = refnet(x).argmax(1).detach()
    fmodel = fb.PyTorchModel(refnet.eval(), bounds=(0, 1))
    eps = 2 / 255
    _, theirs, _ = fb.attacks.LinfFastGradientAttack(random_start=False)(fmodel, x, y, epsilons=eps)
    assert float((fgsm(refnet, x, y, eps) - theirs).abs().max()) <= 1e-6
    attack = fb.attacks.LinfPGD(steps=10, abs_stepsize=2.5 * eps / 10, random_start=False)
    _, theirs, _ = attack(fmodel, x, y, epsilons=eps)
    ours = pgd(refnet, x, y, eps, steps=10, random_start=False)
    assert float(((ours - theirs).abs() > 1e-6).float().mean()) <= 1e-3
    with torch.no_grad():
        flipped_ours, flipped_theirs = refnet(ours).argmax(1) != y, refnet(theirs).argmax(1) != y
    assert bool(flipped_ours.any()) and int((flipped_ours != flipped_theirs).sum()) <= 1


def test_attack_reports_what_the_layers_see(tmp_path, capsys):
    out = tmp_path / "a"
    assert main(["attack", "sample:coffee", "sample:chelsea", "--model", "refnet", "--steps", "3",
                 "--invert-layers", "conv2,fc6", "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    by = {lay["layer"]: lay for lay in r["layers"]}
    assert set(by) == {"conv2", "fc6"} and all(v["code_change_mean"] > 0 for v in by.values())
    assert by["fc6"]["decoded_by"].startswith("trained inverter refnet-fc6")
    assert (out / "seen_by_conv2.png").is_file() and (out / "seen_by_fc6.png").is_file()
    code = main(["attack", "sample:coffee", "--model", "refnet", "--invert-layers", "conv9", "--out", str(tmp_path / "b")])
    assert code == 2 and "unknown layer" in capsys.readouterr().err and not (tmp_path / "b").exists()
