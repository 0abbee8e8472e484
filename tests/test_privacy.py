"""Privacy leakage: re-identification's references, defenses, the rest of the network on a replaced
code, and the leakage command end to end (bundled and freshly trained inverters, bad input)."""

import json
from pathlib import Path

import pytest
import torch

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.hooks import replace_output
from preimage.jobs.privacy import Defense, parse_defenses, reidentify, similarity


def _images(n, size=16, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_reidentification_of_the_originals_is_certain():
    x = _images(50)
    r = reidentify(x, x)
    assert r["top1"] == 1.0 and r["top5"] == 1.0
    assert torch.equal(r["guess"], torch.arange(50)) and torch.all(r["rank"] == 1)


def test_reidentification_of_noise_is_at_chance():
    n = 400
    x = _images(n)
    rates = [reidentify(_images(n, seed=s + 1)[torch.randperm(n, generator=torch.Generator().manual_seed(s))], x)
             for s in range(5)]
    top1 = sum(r["top1"] for r in rates) / 5
    top5 = sum(r["top5"] for r in rates) / 5
    # chance 1/400 and 5/400: over 2,000 trials the rates' standard deviations are 0.0011 and 0.0025
    assert top1 < 1 / n + 0.0045 and abs(top5 - 5 / n) < 0.01
    assert abs(float(torch.cat([r["rank"] for r in rates]).mean()) - (n + 1) / 2) < 0.05 * n


def test_a_flat_guess_scores_exactly_chance_and_scale_does_not_matter():
    x = _images(20)
    gray = torch.full_like(x, 0.5)
    r = reidentify(gray, x)
    assert r["top1"] == pytest.approx(1 / 20) and r["top5"] == pytest.approx(5 / 20)
    # correlation ignores brightness and contrast: a dimmed, offset copy is still found
    assert reidentify(0.3 * x + 0.2, x)["top1"] == 1.0
    s = similarity(x[:3], x)
    assert s.shape == (3, 20) and torch.allclose(s[torch.arange(3), torch.arange(3)], torch.ones(3, dtype=s.dtype))


def test_defenses_at_zero_strength_change_nothing():
    f = torch.randn(6, 8, 4, 4).relu()
    idx = torch.arange(6)
    assert torch.equal(Defense("noise", 0.0)(f, idx), f)
    assert torch.equal(Defense("topk", 1.0)(f, idx), f)
    assert torch.allclose(Defense("quantize", 24)(f, idx), f, atol=1e-5 * float(f.max()))


def test_defenses_do_what_they_say():
    f = torch.randn(6, 200)
    idx = torch.arange(6)
    noisy = Defense("noise", 0.5)(f, idx)
    rel = ((noisy - f).norm(dim=1) / f.norm(dim=1))
    assert torch.allclose(rel, torch.full((6,), 0.5), atol=0.08)
    # each image's noise is its own: the same image alone, or second in another batch, gets the same
    assert torch.equal(Defense("noise", 0.5)(f[3:4], idx[3:4]), noisy[3:4])
    assert torch.equal(Defense("noise", 0.5)(f[[5, 3]], idx[[5, 3]])[1], noisy[3])
    assert not torch.equal(Defense("noise", 0.5)(f, idx, seed=1), noisy)
    q = Defense("quantize", 2)(f, idx)
    assert all(len(torch.unique(row)) <= 4 for row in q)
    t = Defense("topk", 0.1)(f, idx)
    assert torch.all((t != 0).sum(1) == 20)
    kept = t != 0
    assert torch.all(f.abs()[kept].view(6, 20).min(1).values >= f.abs().masked_fill(kept, 0).max(1).values)


def test_parse_defenses():
    d = parse_defenses("noise:0.1,0.3|quantize:8,4|topk:0.5")
    assert [(x.kind, x.strength) for x in d] == [("noise", 0.1), ("noise", 0.3), ("quantize", 8), ("quantize", 4),
                                                 ("topk", 0.5)]
    assert parse_defenses("") == []
    for bad in ("blur:2", "noise", "noise:-1", "noise:nan", "quantize:2.5", "quantize:0", "topk:0", "topk:1.5",
                "noise:a"):
        with pytest.raises(ConfigError):
            parse_defenses(bad)


def test_the_rest_of_the_network_runs_on_the_replaced_code():
    from preimage.models import load_model

    info = load_model("refnet")
    net = info.module.eval()
    x = _images(4, 32)
    with torch.no_grad():
        clean = net(x)
        with replace_output(net, "conv5", lambda out: out.clone(), info.aliases):
            same = net(x)
        with replace_output(net, "fc6", lambda out: torch.zeros_like(out), info.aliases):
            zero = net(x)
    assert torch.equal(clean, same)
    assert torch.allclose(zero, zero[:1].expand_as(zero))  # nothing of the image is left past fc6
    assert not any(m._forward_hooks for m in net.modules())


def _private(tmp_path, n_per_class=3):
    """Photos from scikit-image in CIFAR class folders (labels the judges know)."""
    from preimage.images import load_image, save_image

    root = tmp_path / "private"
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "motorcycle_left"]
    for c, cls in enumerate(("cat", "ship")):
        (root / cls).mkdir(parents=True)
        for k in range(n_per_class):
            img = load_image(f"sample:{names[(c * n_per_class + k) % len(names)]}", 40)
            save_image(img[:, k:k + 32, 8 - k:40 - k], root / cls / f"{k}.png")
    return root


def test_leakage_command_end_to_end(tmp_path):
    priv = _private(tmp_path)
    out = tmp_path / "leak"
    assert main(["leakage", "--model", "refnet", "--layers", "conv2,fc8", "--private", str(priv),
                 "--defense", "noise:0,0.5|topk:0.1", "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "leakage.json").read_text())
    assert r["model"] == "refnet" and r["n"] == 6 and r["judge"] == "cifar-resnet"
    assert r["chance"]["reid_top1"] == pytest.approx(1 / 6)
    assert r["ceiling"]["reid_top1"] == 1.0 and r["floor"]["reid_top1"] == pytest.approx(1 / 6)
    for layer in ("conv2", "fc8"):
        lay = r["layers"][layer]
        for k in ("image_error", "psnr", "ssim", "reid_top1", "reid_top5", "attribute_accuracy", "utility"):
            assert isinstance(lay[k], float)
        assert lay["inverter"]["source"] == "bundled"
        zero = lay["defenses"][0]
        assert (zero["defense"], zero["strength"]) == ("noise", 0.0)
        assert all(zero[k] == lay[k] for k in ("image_error", "ssim", "reid_top1", "attribute_accuracy", "utility"))
        # ||noise|| / ||code|| of d Gaussian numbers at 0.5 x the code's RMS: 0.5 on average, with a standard
        # deviation of about 0.5 / sqrt(2 d) per image (mean of 6 images: / sqrt(6)); four of them either side
        tol = 4 * 0.5 / (2 * lay["code_size"] * 6) ** 0.5
        assert zero["code_change"] == 0.0 and lay["defenses"][1]["code_change"] == pytest.approx(0.5, abs=max(tol, 0.01))
        assert lay["utility"] == r["utility_clean"]  # the clean code through the hook: the network as it is
    assert r["layers"]["conv2"]["reid_top1"] == 1.0  # conv2 keeps the picture
    assert r["layers"]["conv2"]["ssim"] > r["layers"]["fc8"]["ssim"]
    for f in ("leakage.html", "leakage_depth.png", "leakage_tradeoff.png", "examples_conv2.png"):
        assert (out / f).stat().st_size > 1000
    assert "What the embeddings of refnet give away" in (out / "leakage.html").read_text()


def test_leakage_trains_an_inverter_where_none_is_bundled(tmp_path):
    priv = _private(tmp_path, 2)
    pub = _private(tmp_path / "pub", 3)
    out = tmp_path / "leak"
    assert main(["leakage", "--model", "refnet", "--layers", "conv3", "--private", str(priv), "--public", str(pub),
                 "--steps", "2", "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "leakage.json").read_text())
    assert r["layers"]["conv3"]["inverter"]["source"] == f"trained on {pub}"
    assert r["layers"]["conv3"]["inverter"]["steps"] == 2
    assert (out / "inverters" / "conv3.safetensors").is_file()


@pytest.mark.parametrize("args,msg", [
    (["--layers", "conv3"], "no bundled inverter for refnet/conv3"),
    (["--layers", "conv2", "--n", "1"], "at least 2 private images"),
    (["--layers", "conv2", "--defense", "blur:3"], "unknown defense 'blur'"),
    (["--layers", "conv2", "--judge", "refnet"], "another network than the one attacked"),
    (["--layers", "conv9"], "conv9"),
])
def test_leakage_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, msg):
    priv = _private(tmp_path, 1)
    out = tmp_path / "leak"
    assert main(["leakage", "--model", "refnet", "--private", str(priv), "--quiet", "--out", str(out)] + args) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in Path(tmp_path).iterdir()) == ["private"]
