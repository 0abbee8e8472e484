"""Feature visualization as the field does it now (issue 26, first slice): the Fourier and MACO
parameterizations, per-image transformation robustness, the spectrum slope, ``--param``."""

import json
from types import SimpleNamespace

import pytest
import torch

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.images import PHOTOS, load_image, save_image
from preimage.jobs.natural import natural_spectrum
from preimage.keys import keyed
from preimage.metrics import spectrum_slope
from preimage.models import load_model
from preimage.optimize.featurevis import CROPS, STEP, photo_spectrum, restyle
from preimage.optimize.loop import Stage
from preimage.optimize.maximize import caricature, maximize
from preimage.optimize.param import FourierParam, MacoParam, frequencies, mean_amplitude_spectrum
from preimage.optimize.transforms import RandomCrops, apply, robustness
from preimage.representations import CNNLayer, build


@pytest.fixture(scope="module")
def refnet_fc8():
    torch.manual_seed(0)
    return build("refnet", "fc8")


@pytest.fixture(scope="module")
def alexnet_fc8():
    info = load_model("alexnet", pretrained=False, seed=0)
    return CNNLayer(info.module, "fc8", info.mean, info.std, info.aliases, input_size=224)


def _keys(n, tag="t"):
    return [keyed(0, tag, i) for i in range(n)]


def _one_over_f(n, size, a, seed=0):
    g = torch.Generator().manual_seed(seed)
    spec = torch.fft.fft2(torch.randn(n, 1, size, size, generator=g, dtype=torch.float64))
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    r = (f.view(-1, 1) ** 2 + f.view(1, -1) ** 2).sqrt().clamp_min(1.0 / size)
    return torch.fft.ifft2(spec / r ** a).real.expand(-1, 3, -1, -1)


@pytest.mark.parametrize("size", [32, 224])
@pytest.mark.parametrize("kind", ["fourier", "maco"])
def test_params_make_images_of_the_size_in_the_unit_range(kind, size):
    h, w = size, size
    if kind == "fourier":
        p = FourierParam(torch.randn(2, 3, h, w // 2 + 1, 2) * 0.5, (h, w))
    else:
        mag = mean_amplitude_spectrum(torch.rand(2, 3, h, w))
        p = MacoParam(torch.randn(2, 3, h, w // 2 + 1), mag)
    x = p.image()
    assert x.shape == (2, 3, h, w) and float(x.detach().min()) >= 0 and float(x.detach().max()) <= 1
    g, = torch.autograd.grad(x.sum(), p.u)
    assert g.shape == p.u.shape and torch.isfinite(g).all()
    x = apply(robustness((h, w), _keys(2)), x)
    assert x.shape == (2, 3, h, w)


def test_fourier_param_starts_at_the_given_image():
    x0 = torch.stack([load_image("sample:chelsea", 32), load_image("sample:coffee", 32)]).clamp(0.01, 0.99)
    p = FourierParam(None, (32, 32), init=x0)
    assert torch.allclose(p.image(), x0, atol=1e-4)


def test_maco_magnitude_is_the_natural_mean_spectrum():
    spec, where = natural_spectrum("maco", None, 32)
    photos = torch.stack([load_image(f"sample:{n}", 32) for n in PHOTOS])
    assert where == "scikit-image photos" and torch.equal(spec, mean_amplitude_spectrum(photos))
    p = MacoParam(torch.randn(3, 3, 32, 17), spec)
    assert torch.equal(p.magnitude, spec)
    # the image's own spectrum has that magnitude up to the per-image standardization (before the sigmoid)
    z = torch.fft.irfft2(torch.polar(p.magnitude.expand_as(p.u), p.u.detach()), s=(32, 32), norm="ortho")
    back = torch.fft.rfft2(z, norm="ortho").abs()
    # (the columns of the real FFT that are their own conjugates - 0 and W/2 - keep only a real part)
    assert torch.allclose(back[..., 1:16], spec.expand_as(back)[..., 1:16], rtol=1e-3, atol=1e-5)
    # and a natural spectrum falls with frequency: the slope of its radial mean is negative
    f = frequencies(32, 32)
    low, high = spec[:, (f > 0.05) & (f < 0.1)].mean(), spec[:, f > 0.4].mean()
    assert float(low) > 5 * float(high)


@pytest.mark.parametrize("a", [0.0, 1.0, 1.5, 2.0])
def test_spectrum_slope_of_one_over_f_noise_is_its_exponent(a):
    # 224 px: many rings in the band, the estimate is tight; 32 px: 13 rings, noisier (measured +-0.2)
    assert float(spectrum_slope(_one_over_f(4, 224, a)).mean()) == pytest.approx(-a, abs=0.05)
    assert float(spectrum_slope(_one_over_f(8, 32, a)).mean()) == pytest.approx(-a, abs=0.2)


def test_transforms_draw_per_image():
    """An image's transforms are the same alone and in any batch (its own keyed generator)."""
    x = torch.rand(3, 3, 32, 32)
    chain = robustness((32, 32), _keys(3)) + [RandomCrops((32, 32), _keys(3, "crop"), noise=0.05)]
    together = apply(chain, x)
    alone = apply(robustness((32, 32), [keyed(0, "t", 1)]) + [RandomCrops((32, 32), [keyed(0, "crop", 1)], noise=0.05)],
                  x[1:2])
    assert torch.allclose(together[1:2], alone, atol=1e-6)
    assert not torch.allclose(together[0], together[1], atol=1e-2)
    assert torch.equal(apply(chain, x, random=False), x)


@pytest.mark.parametrize("kind", ["pixel", "fourier", "maco"])
def test_a_unit_alone_equals_it_in_a_batch(refnet_fc8, kind):
    """Tolerance 1e-3: the draws are identical (exact, test above); what differs is float32 rounding of
    the batched convolutions (~1e-7), which Adam's normalized steps carry over 10 iterations (measured:
    up to 4e-4 at 30 iterations for maco). Another image's draws would move pixels by 0.1 and more."""
    spec, _ = natural_spectrum("maco", None, 32) if kind == "maco" else (None, None)
    batch = maximize(refnet_fc8, [1, 3, 5], iters=10, seed=0, param=kind, spectrum=spec, show=False)
    alone = maximize(refnet_fc8, [3], iters=10, seed=0, param=kind, spectrum=spec, show=False)
    assert batch.param == kind and batch.images.shape == (3, 1, 3, 32, 32)
    assert float((batch.images[1] - alone.images[0]).abs().max()) < 1e-3
    other = maximize(refnet_fc8, [3], iters=10, seed=1, param=kind, spectrum=spec, show=False)
    assert float((other.images[0] - alone.images[0]).abs().max()) > 0.05


@pytest.mark.parametrize("kind", ["fourier", "maco"])
def test_alexnet_224_shapes_range_and_batch_independence(alexnet_fc8, kind):
    """Speed and shape only (random weights). One iteration: on a random network's fc8 the gradients
    are tiny and Adam's sign-like steps carry the float32 rounding of a batch of 2 against 1 forward
    (measured for fourier: 1e-6 after one step, 5e-3 after two, 4e-2 after four); the draws themselves
    are identical (test_transforms_draw_per_image)."""
    photos = torch.stack([load_image(f"sample:{n}", 224) for n in PHOTOS[:3]])
    spec = mean_amplitude_spectrum(photos) if kind == "maco" else None
    batch = maximize(alexnet_fc8, [7, 11], iters=1, seed=0, param=kind, spectrum=spec, show=False)
    alone = maximize(alexnet_fc8, [11], iters=1, seed=0, param=kind, spectrum=spec, show=False)
    assert batch.images.shape == (2, 1, 3, 224, 224)
    assert float(batch.images.min()) >= 0 and float(batch.images.max()) <= 1
    assert float((batch.images[1] - alone.images[0]).abs().max()) < 1e-3


@pytest.mark.parametrize("kind", ["fourier", "maco"])
def test_spectral_class_images_are_smoother_than_pixel_ones(refnet_fc8, kind):
    """Measured at 30 iterations, refnet's ten classes: pixel mean slope +0.22 (+0.06 to +0.39; the
    noise start still shows), fourier -1.37 (-1.54 to -1.23), maco -1.33 (-1.39 to -1.27); natural
    photos -1.25. maco (the default) needs no spectrum: the photos' is its default."""
    pixel = maximize(refnet_fc8, list(range(10)), iters=30, seed=0, param="pixel", show=False)
    spectral = maximize(refnet_fc8, list(range(10)), iters=30, seed=0, param=None if kind == "maco" else kind,
                        show=False)
    assert pixel.param == "pixel" and spectral.param == kind
    sp, sf = spectrum_slope(pixel.images[:, 0]), spectrum_slope(spectral.images[:, 0])
    assert float(sf.max()) < float(sp.min()) - 0.5
    assert float(sf.mean()) < -0.8 and float(sp.mean()) > -0.3
    assert (spectral.rank == 1).sum() >= 8


def test_each_parameterization_has_its_familys_transforms_and_step():
    """maco: MACO's crops with noise at Adam 0.1 (featurevis.CROPS, STEP); fourier: lucid's chain at 0.05."""
    spec, _ = natural_spectrum("maco", None, 32)
    preset = SimpleNamespace(stages=[Stage(10, 0.1)])     # restyle reads the preset's length alone
    setups = {kind: restyle(preset, kind, (32, 32), None, _keys(2), _keys(2, "x"), spectrum=spec)  # type: ignore[arg-type]
              for kind in ("fourier", "maco")}
    crops, = setups["maco"].extra_transforms
    assert isinstance(crops, RandomCrops) and (crops.box, crops.noise) == CROPS and CROPS == ((0.8, 1.0), 0.05)
    assert setups["maco"].optimizer.lr == STEP["maco"] == 0.1
    assert [type(t) for t in setups["fourier"].extra_transforms] == [type(t) for t in robustness((32, 32), _keys(2))]
    assert setups["fourier"].optimizer.lr == STEP["fourier"] == 0.05


def test_maco_keeps_an_odd_size():
    """A real FFT of width 33 keeps 17 columns, as one of width 32 does: the image is 33x33, not 33x32."""
    rep = CNNLayer.from_info(load_model("refnet"), "conv5", 33)
    m = maximize(rep, [0], iters=2, seed=0, param="maco", show=False)
    assert m.images.shape == (1, 1, 3, 33, 33)
    c = caricature(rep, torch.stack([load_image("sample:chelsea", 33)]), iters=2, param="maco", show=False)
    assert c.images.shape == (1, 3, 33, 33)
    with pytest.raises(ValueError, match="no \\(33, 17\\) half spectrum"):
        MacoParam(torch.zeros(1, 3, 33, 17), photo_spectrum(33), size=(33, 31))


def test_maco_defaults_to_the_photos_spectrum(refnet_fc8):
    spec, _ = natural_spectrum("maco", None, 32)
    given = maximize(refnet_fc8, [2], iters=3, seed=0, param="maco", spectrum=spec, show=False)
    default = maximize(refnet_fc8, [2], iters=3, seed=0, param="maco", show=False)
    assert torch.equal(given.images, default.images) and torch.equal(photo_spectrum(32), spec)


def test_caricature_with_fourier_starts_at_the_photo_and_gains():
    x0 = torch.stack([load_image("sample:chelsea", 32)])
    r1 = caricature(build("refnet", "conv5"), x0, iters=1, param="fourier", show=False)
    assert r1.param == "fourier" and r1.images.shape == (1, 3, 32, 32)
    # one Adam step (0.05 on every coefficient) from the photo's exact spectrum: measured 0.032
    assert float((r1.images - x0).abs().mean()) < 0.06
    r = caricature(build("refnet", "conv5"), x0, iters=40, param="fourier", show=False)
    assert float(r.gain[0]) > 2.0          # measured 2.74 (3.2 at 300 iterations; pixel default 2.8)


def test_restyle_keeps_pixel_untouched():
    assert restyle("setup", "pixel", (32, 32), None, [], []) == "setup"  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown --param"):
        restyle("setup", "wavelet", (32, 32), None, [], [])  # type: ignore[arg-type]


def test_maximize_cli_records_param_and_slopes(tmp_path, capsys):
    out = tmp_path / "f"
    assert main(["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1,3", "--param", "maco",
                 "--spectrum-from", str(_photo_folder(tmp_path)), "--iters", "3", "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert r["param"] == "maco" and r["spectrum_from"].endswith("(2 images)")
    assert set(r["spectrum_slope"]) >= {"mean", "min", "max", "natural"} and r["spectrum_slope"]["natural"] < -0.5
    assert all("spectrum_slope" in u for u in r["units"])
    out2 = tmp_path / "c"
    assert main(["caricature", "sample:chelsea", "--model", "refnet", "--layer", "conv5", "--param", "fourier",
                 "--iters", "2", "--quiet", "--out", str(out2)]) == 0
    assert json.loads((out2 / "results.json").read_text())["param"] == "fourier"
    out3 = tmp_path / "m"
    assert main(["caricature", "sample:chelsea", "--model", "refnet", "--layer", "conv5", "--param", "maco",
                 "--spectrum-from", str(_photo_folder(tmp_path)), "--iters", "2", "--quiet", "--out", str(out3)]) == 0
    assert json.loads((out3 / "results.json").read_text())["spectrum_from"].endswith("(2 images)")


def _photo_folder(root):
    d = root / "photos"
    d.mkdir(exist_ok=True)
    for n in ("chelsea", "coffee"):
        save_image(load_image(f"sample:{n}", 64), d / f"{n}.png")
    return d


@pytest.mark.parametrize("verb", ["maximize", "caricature"])
@pytest.mark.parametrize("args,needle", [
    (["--param", "wavelet"], "unknown --param"),
    (["--param", "maco", "--spectrum-from", "EMPTY"], "no images"),
    (["--param", "fourier", "--spectrum-from", "EMPTY"], "--spectrum-from is for --param maco"),
    (["--param", "pixel", "--spectrum-from", "EMPTY"], "--spectrum-from is for --param maco"),
])
def test_bad_param_input(tmp_path, capsys, verb, args, needle):
    (tmp_path / "empty").mkdir()
    args = [str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    what = ["--layer", "fc8", "--units", "3"] if verb == "maximize" else ["sample:chelsea", "--layer", "conv5"]
    code = main([verb, "--model", "refnet", *what, *args, "--iters", "2", "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err
    assert not (tmp_path / "o").exists()


def test_views_average_several_draws_per_step_and_keep_units_independent(refnet_fc8):
    """--views V: each step sees V draws of every image. A unit alone equals it in a batch (its views'
    draws are its own), the result differs from one view, and the history keeps one energy per unit."""
    batch = maximize(refnet_fc8, [1, 3, 5], iters=10, seed=0, param="fourier", views=3, show=False)
    alone = maximize(refnet_fc8, [3], iters=10, seed=0, param="fourier", views=3, show=False)
    one = maximize(refnet_fc8, [3], iters=10, seed=0, param="fourier", show=False)
    assert batch.views == 3 and batch.history.shape == (10, 3, 1)
    assert float((batch.images[1] - alone.images[0]).abs().max()) < 1e-3
    assert float((one.images[0] - alone.images[0]).abs().max()) > 0.01


@pytest.mark.parametrize("args,needle", [
    (["--views", "3", "--param", "pixel"], "--views is for --param fourier or maco"),
    (["--views", "3", "--samples", "2", "--diversity", "1"], "--views and --diversity"),
    (["--views", "0"], "--views must be at least 1"),
])
def test_bad_views(tmp_path, capsys, args, needle):
    code = main(["maximize", "--model", "refnet", "--layer", "fc8", "--units", "3", *args, "--iters", "2", "--quiet",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "o").exists()
