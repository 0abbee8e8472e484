import warnings

import numpy as np
import pytest
import torch
from skimage.feature import hog as sk_hog
from skimage.feature import local_binary_pattern

from preimage.cli import main
from preimage.errors import ImageError, NotDifferentiableError
from preimage.images import load_image
from preimage.optimize import invert
from preimage.representations import DSIFT, HOG, LBP, build, glyphs
from preimage.representations._grad import (
    binned_cell_pool,
    cell_pool,
    central_gradient,
    hard_direction,
    hard_orientation_bins,
    luma,
    magnitude,
    safe_angle,
    soft_orientation_bins,
)
from preimage.representations.hog import hog_dalal_triggs
from preimage.representations.lbp import _luma64, lbp_codes

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


@pytest.mark.parametrize("name", PHOTOS)
def test_hog_dt_agrees_with_skimage(name):
    x = load_image(f"sample:{name}", 128)[None].double()
    ours = hog_dalal_triggs(x)[0].numpy()
    ref = sk_hog(luma(x)[0, 0].numpy(), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                 block_norm="L2-Hys", feature_vector=False)
    assert ours.shape == ref.shape
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] >= 0.99


@pytest.mark.parametrize("name", PHOTOS + ("camera",))
def test_lbp_codes_identical_to_skimage(name):
    x = load_image(f"sample:{name}", 80)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = local_binary_pattern(_luma64(x)[0].numpy(), 8, 1, method="uniform")
    assert np.array_equal(lbp_codes(x)[0].numpy(), ref)


def test_lbp_histograms_sum_to_one_per_cell():
    f = LBP()(load_image("sample:coffee", 64)[None])
    assert f.shape == (1, 10, 8, 8)
    assert torch.allclose(f.sum(1), torch.ones(1, 8, 8, dtype=f.dtype))


@pytest.mark.parametrize("soft", [False, True])
def test_fused_binning_equals_the_reference_path(soft):
    x = torch.rand(2, 3, 37, 45, dtype=torch.float64)
    gx, gy = central_gradient(luma(x))
    mag, th = magnitude(gx, gy), safe_angle(gx, gy)
    ref = cell_pool(soft_orientation_bins(th, mag, 18) if soft else hard_orientation_bins(gx, gy, mag, 18), 8)
    assert torch.allclose(binned_cell_pool(mag, th, 18, 8, soft), ref, atol=1e-12)


@pytest.mark.parametrize("bins", [12, 18, 36])
def test_fused_hard_direction_agrees_off_exact_ties_for_other_bin_counts(bins):
    """With 12 or 36 directions 45 degrees lies exactly between two; away from such ties the fast
    path picks the reference's direction, for every sign of gx and gy. With hog's 18, everywhere
    (its ties, 90 and 270 degrees, go the same way)."""
    torch.manual_seed(1)
    x = (torch.rand(2, 3, 40, 40, dtype=torch.float64) * 4).round() / 4     # few levels: many exact axes
    g = luma(x)
    gx, gy = central_gradient(g)
    b = safe_angle(gx, gy) * (bins / (2 * np.pi))
    ref_k = torch.remainder(torch.round(b).long(), bins)
    _, k = hard_direction(g, bins)
    clear = ((b - b.floor()) - 0.5).abs() > 1e-6 if bins != 18 else torch.ones_like(b, dtype=torch.bool)
    assert bool((gx < 0).any() and (gy < 0).any() and (gx == 0).any() and (gy == 0).any())
    assert torch.equal(torch.remainder(k, bins)[clear], ref_k[clear])


def test_fused_hard_direction_equals_the_reference_path():
    """hog's fast path (negated differences, one atan2, the halving moved into the pooling weights)
    picks the reference path's direction for every pixel - flat patches, axis-aligned and diagonal
    gradients included - and pools to the same histogram, gradient included."""
    x = torch.rand(2, 3, 37, 45, dtype=torch.float64)
    x[0, :, 5:15, 5:15] = 0.5                                   # flat: direction 0
    x[1, :, :, 20:] = torch.linspace(0, 1, 25, dtype=torch.float64)   # exact horizontal gradient
    x[1, :, 20:, :] = torch.linspace(0, 1, 17, dtype=torch.float64).view(-1, 1)
    x[0, :, 20:, 20:] = (torch.arange(17).view(-1, 1) + torch.arange(25)).double() / 50   # exact diagonal
    g = luma(x)
    gx, gy = central_gradient(g)
    mag = magnitude(gx, gy)
    ref_k = torch.remainder(torch.round(safe_angle(gx, gy) * (18 / (2 * np.pi))).long(), 18)
    mag2, k = hard_direction(g, 18)
    assert torch.equal(torch.remainder(k, 18), ref_k) and not k.requires_grad
    assert torch.allclose(0.5 * mag2, mag, rtol=1e-12, atol=1e-15)
    ref = cell_pool(hard_orientation_bins(gx, gy, mag, 18), 8)
    assert torch.allclose(binned_cell_pool(mag2, None, 18, 8, False, index=k, scale=0.5), ref, atol=1e-12)
    xx = x.clone().requires_grad_(True)
    w = torch.rand_like(ref)

    def grad(fn):
        return torch.autograd.grad((fn(luma(xx)) * w).sum(), xx)[0]

    def reference(gl):
        ax, ay = central_gradient(gl)
        return cell_pool(hard_orientation_bins(ax, ay, magnitude(ax, ay), 18), 8)

    def fast(gl):
        m2, kk = hard_direction(gl, 18)
        return binned_cell_pool(m2, None, 18, 8, False, index=kk, scale=0.5)

    assert torch.allclose(grad(fast), grad(reference), atol=1e-10)


def test_shapes_ranges_and_strides():
    x = load_image("sample:astronaut", 64)[None]
    h = HOG()(x)
    assert h.shape == (1, 27, 8, 8) and float(h.min()) >= 0 and float(h.max()) <= 0.4 + 1e-6
    assert HOG(soft=True)(x).shape == (1, 27, 8, 8)
    d = DSIFT()(x)
    assert d.shape == (1, 128, 5, 5) and float(d.max()) <= 0.2 + 1e-6
    assert DSIFT(bin_size=5)(x).shape == (1, 128, 9, 9)
    assert HOG(cell=4).stride == 4 and DSIFT().stride == 8
    assert build("dsift:bin_size=5").bin_size == 5 and build("hogb").soft


@pytest.mark.parametrize("rep", [HOG(cell=4), HOG(cell=4, soft=True), DSIFT(bin_size=3)], ids=["hog", "hogb", "dsift"])
def test_gradients_check_numerically(rep):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: rep(t), (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_bad_inputs():
    with pytest.raises(ImageError, match="smaller than the minimum 16x16"):
        HOG()(torch.rand(1, 3, 12, 40))
    x = torch.rand(1, 3, 32, 32)
    x[0, 0, 3, 3] = float("nan")
    for rep in (HOG(), DSIFT(), LBP()):
        with pytest.raises(ImageError, match="non-finite"):
            rep(x)


def test_lbp_refuses_optimization_clearly(tmp_path, capsys):
    with pytest.raises(NotDifferentiableError, match="not differentiable"):
        invert(LBP(), torch.rand(1, 3, 32, 32))
    code = main(["invert", "sample:coffee", "--model", "lbp", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "not differentiable" in err and not (tmp_path / "o").exists()


def test_glyphs_picture():
    f = HOG()(load_image("sample:coffee", 64)[None])[0]
    g = glyphs(f, cell_px=12)
    assert g.shape == (3, 96, 96) and float(g.max()) <= 1 and float(g.max()) > 0


@pytest.mark.parametrize("rep,bound", [(HOG(), 0.4), (HOG(soft=True), 0.15), (DSIFT(), 0.1)], ids=["hog", "hogb", "dsift"])
def test_descriptors_invert_on_a_photo(rep, bound):
    x = load_image("sample:coffee", 128)[None]
    res = invert(rep, x)
    assert float(res.feature_error.mean()) < bound


def test_evaluate_command_writes_the_table(tmp_path, capsys):
    import json

    from PIL import Image

    data = tmp_path / "imgs"
    data.mkdir()
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        Image.fromarray((load_image(f"sample:{name}", 48).permute(1, 2, 0).numpy() * 255).astype("uint8")).save(data / f"{i}.png")
    code = main(["evaluate", "--rep", "hogb", "--data", str(data), "--n", "2", "--size", "48", "--iters", "20",
                 "--out", str(tmp_path / "ev"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    s = json.loads((tmp_path / "ev" / "evaluate.json").read_text())
    for k in ("representation", "method", "preset", "n", "size", "mv_error_mean", "mv_error_std",
              "feature_error_mean", "image_error_mean", "seconds_per_image"):
        assert k in s
    assert s["representation"] == "hogb" and s["n"] == 2 and s["size"] == 48
    assert "| hogb |" in out and (tmp_path / "ev" / "evaluate.png").is_file()
