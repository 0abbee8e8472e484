import pytest
import torch

from preimage.errors import ConfigError
from preimage.optimize import invert
from preimage.representations import CNNLayer


def test_early_conv_layer_inverts_accurately(tiny_model, photos64):
    rep = CNNLayer(tiny_model, "conv1", input_size=64)
    res = invert(rep, photos64, seed=0)
    m = res.image_metrics()
    assert float(res.feature_error.max()) < 0.05
    assert float(m["psnr"].min()) > 20.0


def test_image_error_grows_with_depth(tiny_model, photos64):
    errs = []
    for layer in ("conv1", "conv2", "conv3"):
        rep = CNNLayer(tiny_model, layer, input_size=64)
        res = invert(rep, photos64, iters=200, seed=0)
        errs.append(float(res.image_metrics()["image_error"].mean()))
    assert errs[0] < errs[1] < errs[2], errs


def test_same_seed_same_result_and_different_seed_differs(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    a = invert(rep, photos32[:2], iters=30, seed=3)
    b = invert(rep, photos32[:2], iters=30, seed=3)
    c = invert(rep, photos32[:2], iters=30, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.history, b.history)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize("preset", ["mv2015", "mv2016"])
def test_paper_presets_lower_their_energy(tiny_model, photos32, preset):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    res = invert(rep, photos32[:2], preset=preset, iters=60, seed=0)
    h = res.history
    assert h.shape == (60, 2, 1)
    assert bool((h[-1] < h[0]).all())
    assert 0 <= float(res.images.min()) and float(res.images.max()) <= 1


def test_samples_differ_and_std_shows_it(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "pool3", input_size=32)
    res = invert(rep, photos32[:2], samples=3, iters=60, seed=0)
    assert res.images.shape == (2, 3, 3, 32, 32) and res.feature_error.shape == (2, 3)
    assert not torch.allclose(res.images[:, 0], res.images[:, 1])
    assert torch.allclose(res.std, res.images.std(1, unbiased=False))
    assert float(res.std.mean()) > 0
    one = invert(rep, photos32[:2], samples=1, iters=60, seed=0)
    assert float(one.std.abs().max()) == 0.0


def test_batched_inversion_equals_one_at_a_time(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    start = torch.full_like(photos32[:2], 0.5)  # same start either way, so only batching differs
    first = invert(rep, photos32[:1], iters=20, seed=0, preset="mv2015", init=start[:1])
    both = invert(rep, photos32[:2], iters=20, seed=0, preset="mv2015", init=start)
    assert torch.allclose(first.images[0], both.images[0], atol=1e-5)


def test_window_matches_only_the_center(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)  # 16x16 map
    with torch.no_grad():
        target = rep(photos32[:1])
    altered = target.clone()
    altered[..., :4, :] += 5.0  # change only the border rows, outside the centered 4x4 window
    a = invert(rep, target=target, size=(32, 32), window=4, iters=25, seed=1)
    b = invert(rep, target=altered, size=(32, 32), window=4, iters=25, seed=1)
    assert torch.equal(a.images, b.images)  # what lies outside the window has no effect
    full = invert(rep, target=altered, size=(32, 32), iters=25, seed=1)
    assert not torch.equal(a.images, full.images)
    # the reconstruction is constrained mostly in the window's receptive field: pixels far from
    # the center change less than those in it
    res = invert(rep, photos32[:1], window=4, iters=150, seed=0)
    img = res.images[0, 0]
    err = (img - photos32[0]).abs().mean(0)
    assert float(err[12:20, 12:20].mean()) < float(err[:6, :6].mean())


def test_channels_match_only_those(tiny_model, photos32):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)  # 32 channels
    with torch.no_grad():
        target = rep(photos32[:1])
    altered = target.clone()
    altered[:, 8:] = 0.0
    a = invert(rep, target=target, size=(32, 32), channels=(0, 8), iters=25, seed=1)
    b = invert(rep, target=altered, size=(32, 32), channels=(0, 8), iters=25, seed=1)
    assert torch.equal(a.images, b.images)
    assert "channels 0:8" in a.objective
    with pytest.raises(ConfigError):
        invert(rep, photos32[:1], channels=(30, 40), iters=2)


def test_needs_images_or_target(tiny_model):
    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    with pytest.raises(ConfigError):
        invert(rep)
    with pytest.raises(ConfigError):
        invert(rep, torch.rand(1, 3, 32, 32), samples=0)


def test_an_images_result_does_not_depend_on_its_batch(photos32):
    """Same image, same seed: alone, first or second in a batch, the same reconstruction."""
    from preimage.representations import build

    c, a = photos32[1], photos32[0]
    # in float64 exactly: nothing of one image (its ReLU statistics, its pyramid, its Adam state)
    # reaches another's
    rep = build("refnet", "conv3", pretrained=False, seed=0).double()
    alone = invert(rep, c[None].double(), iters=15, seed=0, show=False)
    first = invert(rep, torch.stack([c, a]).double(), iters=15, seed=0, show=False)
    second = invert(rep, torch.stack([a, c]).double(), iters=15, seed=0, show=False)
    for other in (first.images[0], second.images[1]):
        assert torch.equal(alone.images[0], other)
    # in float32 batched convolutions round differently in the last bits, and Adam's normalized
    # steps carry that into the pixels (7e-4 at most after 15 iterations with plain Adam, 0.027 with
    # the inversion rule's fast-forgetting one, measured); the match itself is the same
    rep = build("refnet", "conv3", pretrained=False, seed=0)
    alone = invert(rep, c[None], iters=15, seed=0, show=False)
    second = invert(rep, torch.stack([a, c]), iters=15, seed=0, show=False)
    assert float((alone.images[0] - second.images[1]).abs().max()) < 0.05
    assert abs(float(alone.feature_error[0, 0]) - float(second.feature_error[1, 0])) < 2e-3


def test_luma_representations_are_reconstructed_and_shown_in_gray():
    from preimage.jobs.inversion import reconstruct
    from preimage.representations import build

    r = reconstruct(build("hog", size=32), ["sample:coffee"], iters=5, show=False)
    img, orig = r.result.images[0, 0], r.result.originals[0]
    assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])      # gray, as the code sees it
    assert torch.equal(orig[0], orig[2])                                      # the original as hog sees it
