"""The package-top one-liners, results that show themselves (repr, PNG, HTML), and the small
conveniences notebooks lean on (hooks.capture finding a model's own aliases, invert(objective=))."""

import os
import subprocess
import sys

import pytest
import torch

import preimage
from preimage.errors import ConfigError, LayerError
from preimage.hooks import capture
from preimage.images import load_image, save_image
from preimage.jobs.attacks import Robustness, Transfer
from preimage.jobs.inversion import Reconstruction
from preimage.jobs.natural import UnitImages
from preimage.jobs.projection import Projection
from preimage.models import load_model
from preimage.optimize import FeatureMatch, TotalVariation
from preimage.optimize import invert as optimize_invert
from preimage.representations import build
from preimage.results import Shown

PNG = b"\x89PNG"


def short(text: str) -> bool:
    return "\n" not in text and len(text) < 300 and "tensor(" not in text


@pytest.fixture(scope="module")
def info():
    return load_model("refnet")


def test_one_liners_return_the_jobs_results(info):
    r = preimage.invert("refnet", "conv3", "sample:coffee", iters=5, show=False)
    assert isinstance(r, Reconstruction) and r.result.images.shape == (1, 1, 3, 32, 32)
    assert r.to_json()["model"] == "refnet" and r.to_json()["layer"] == "conv3"
    m = preimage.maximize("refnet", "conv5:0:3", iters=5, show=False)
    assert isinstance(m, UnitImages) and m.result.units == [0, 1, 2]
    m2 = preimage.maximize(info, "fc8", units=[3], iters=5, show=False)
    assert m2.to_json()["units"][0]["label"] == "cat"          # logits are named by the classes
    m3 = preimage.maximize("refnet", "fc8:3", iters=3, param="maco", views=2, show=False)
    assert m3.to_json()["param"] == "maco" and m3.to_json()["views"] == 2
    p = preimage.project("refnet", "conv5", ["sample:chelsea"], top=2)
    assert isinstance(p, Projection) and len(p.selections[0]) == 2
    p1 = preimage.project("refnet", "conv5", "sample:chelsea", channel=7, rule="guided")
    assert p1.selections == [[7]] and p1.rule == "guided"
    a = preimage.attack("refnet", ["sample:coffee"], eps="2/255", steps=2)
    assert a.record["n"] == 1 and a.record["eps"] == pytest.approx(2 / 255)


def test_one_liners_take_modules_tensors_and_descriptors(info):
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    r = preimage.invert(info.module, "features.4", x, mean=info.mean, std=info.std, size=32, iters=3, show=False)
    assert r.to_json()["model"] == "RefNet" and r.sources == ["image0", "image1"]
    assert r.rep.mean.view(3).tolist() == pytest.approx(list(info.mean))
    r3 = preimage.invert(info, "conv2", x[0], iters=3, show=False)   # a ModelInfo, a (3, H, W) tensor
    assert r3.result.images.shape[0] == 1
    h = preimage.invert("hog", None, "sample:coffee", size=64, iters=3, show=False)
    assert h.to_json()["representation"] == "hog"
    a = preimage.attack(info, x, eps=0.01, method="fgsm")
    assert a.sources == ["image0", "image1"] and a.adv.shape == x.shape
    with pytest.raises(LayerError):
        preimage.invert("refnet", None, "sample:coffee")
    with pytest.raises(ConfigError, match="units given twice"):
        preimage.maximize("refnet", "conv5:3", units=[4])
    with pytest.raises(ConfigError, match="choose the units"):
        preimage.maximize("refnet", "conv5")


def test_results_show_themselves_in_a_notebook():
    r = preimage.invert("refnet", "conv3", ["sample:coffee", "sample:chelsea"], samples=2, iters=3, show=False)
    assert isinstance(r, Shown)
    text = repr(r)
    assert short(text) and text.startswith("<Reconstruction invert: refnet conv3") and "feature_error" in text
    assert r._repr_png_().startswith(PNG)
    html = r._repr_html_()
    assert "<img" in html and "feature_error" in html and "<iframe" not in html
    bundle = r._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "image/png", "text/html"} and isinstance(bundle["image/png"], str)
    assert set(r._repr_mimebundle_(include={"image/png"})) == {"image/png"}
    for res in (preimage.maximize("refnet", "conv5:0:2", iters=3, show=False),
                preimage.project("refnet", "conv5", "sample:chelsea", top=2),
                preimage.attack("refnet", ["sample:coffee"], eps=0.01, method="fgsm"),
                Robustness({"model": "refnet", "n": 10, "norm": "inf", "steps": 2, "eps": [0.0, 0.01],
                            "accuracy": [0.9, 0.5]}),
                Transfer({"models": ["a", "b"], "eps": 0.03, "method": "fgsm", "n": 4, "steps": 1,
                          "matrix": [[1.0, 0.5], [0.25, 1.0]]})):
        assert short(repr(res)) and repr(res).startswith(f"<{type(res).__name__} {res.command}: "), repr(res)
        assert res._repr_png_().startswith(PNG), type(res)
        assert "<img" in res._repr_html_()


def test_capture_finds_the_models_own_aliases(info):
    x = torch.rand(1, 3, 32, 32)
    with capture(info.module, ["conv2", "features.8"]) as cap:
        out = cap(x)
    assert out["conv2"].shape == (1, 128, 16, 16) and out["features.8"].shape[1] == 256
    with pytest.raises(LayerError):
        with capture(info.module, ["conv2"], aliases={}):     # aliases given: only those
            pass


def test_invert_minimizes_a_given_objective():
    rep = build("refnet", "conv5")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    t3, t5 = rep.features_at(x, ["conv3", None]).values()
    energy = FeatureMatch(t3, layer="conv3") + FeatureMatch(t5) + 0.3 * TotalVariation(2.0, "mean")
    res = optimize_invert(rep, x, objective=energy, iters=4, show=False)
    assert res.objective == "feature_match@conv3 + feature_match + 0.3*tv2_mean"
    assert set(res.terms) >= {"feature_match@conv3", "feature_match"}
    assert optimize_invert(rep, x, iters=4, show=False).objective != res.objective    # the default is unchanged
    with pytest.raises(ConfigError, match="samples=1"):
        optimize_invert(rep, x, objective=energy, samples=2, iters=2, show=False)


def test_import_keeps_matplotlibs_backend():
    code = ("import sys, matplotlib; before = matplotlib.rcParams._get_backend_or_none(); import preimage; "
            "assert 'matplotlib.pyplot' not in sys.modules; "
            "assert matplotlib.rcParams._get_backend_or_none() == before, matplotlib.rcParams._get_backend_or_none(); "
            "print(preimage.invert.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "preimage.api"


@pytest.mark.parametrize("env, first, expected", [
    ({}, "", "10000"),                                       # torch loads after: a short spin
    ({"GOMP_SPINCOUNT": "777"}, "", "777"),                  # the user's own setting stays
    ({"OMP_WAIT_POLICY": "PASSIVE"}, "", None),              # so does a wait policy
    ({}, "import torch; ", None),                            # torch already loaded: too late, left alone
])
def test_import_shortens_openmps_spin_only_when_it_still_can(env, first, expected):
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    code = f"import os; {first}import preimage; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**base, **env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(expected)


def test_maximize_takes_the_spectrum_folder(tmp_path):
    save_image(load_image("sample:coffee", 48), tmp_path / "coffee.png")
    m = preimage.maximize("refnet", "fc8:3", iters=2, spectrum_from=str(tmp_path), show=False)
    assert m.to_json()["param"] == "maco" and m.to_json()["spectrum_from"].endswith("(1 images)")
