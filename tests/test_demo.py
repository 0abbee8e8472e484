import json
import re
from pathlib import Path

import torch

from preimage.cli import main
from preimage.images import load_image

HERE = Path(__file__).parent
TINY = f"{HERE / 'tiny_models.py'}:tiny"


def test_demo_writes_a_self_contained_report(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--model", TINY, "--images", "sample:coffee", "sample:chelsea", "--iters", "8",
                 "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert [l["layer"] for l in r["layers"]] == ["conv1", "conv2", "conv3", "fc"]  # TinyNet's unit-bearing aliases
    assert all(len(l["feature_error"]) == 2 for l in r["layers"])
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 2
    assert not re.search(r'src="(?!data:)', page)  # nothing outside the file
    for layer in ("conv1", "conv2", "conv3"):
        assert f"<b>{layer}</b>" in page
    assert (out / "layers.png").is_file() and (out / "errors.png").is_file() and (out / "hog.png").is_file()
    assert "<h2>HOG</h2>" in page and len(r["hog"]["feature_error"]) == 2
    assert r["learned"] == [] and "Trained inverters" not in page  # no bundled inverter fits TinyNet
    assert r["device"] == "cpu"


def test_demo_on_refnet_shows_the_bundled_inverters_beside_optimization(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--images", "sample:coffee", "--layers", "conv5,fc6", "--iters", "5",
                 "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    # the swept layers beside optimization, then every other bundled inverter of refnet alone
    assert [l["layer"] for l in r["learned"]] == ["conv5", "fc6", "conv2", "relu6", "fc7", "fc8"]
    assert [l["optimization_image_error"] is None for l in r["learned"]] == [False, False, True, True, True, True]
    assert r["learned"][0]["inverter"] == "refnet-conv5.safetensors"
    page = (out / "report.html").read_text()
    assert "<h2>Trained inverters</h2>" in page and (out / "learned.png").is_file()
    # the no-information reference: a flat gray image's error against the photo, by hand
    x = load_image("sample:coffee", 32)
    gray = float(((x - 0.5).pow(2).sum() / x.pow(2).sum()).sqrt())
    assert abs(r["gray_image_error"] - gray) < 1e-5
    # after 5 iterations the reconstructions are still about the gray start: the report says from where
    first = next(l["layer"] for l in r["layers"] if l["image_error_mean"] >= 0.95 * gray)
    assert f"From {first} on, the reconstructions are no nearer the photos than a flat gray image" in page


def test_demo_maximizes_each_unit_once_and_its_figures_are_the_atlas(tmp_path, capsys, monkeypatch):
    """Issue 25, item 3: the deepest conv layer's visualizations and top patches come from the demo's
    atlas, not from a second maximization and a second pass."""
    import preimage.jobs.atlas.build as build
    import preimage.jobs.projection.top as top
    import preimage.report.demo as demo

    stats_pass, stream_top = build.stats_pass, top.stream_top

    done = []

    def counting(real):
        def wrapped(rep, units, *a, **k):
            done.extend((rep.layer, int(u)) for u in units)
            return real(rep, units, *a, **k)
        return wrapped

    monkeypatch.setattr(build, "maximize", counting(build.maximize))
    monkeypatch.setattr(demo, "maximize", counting(demo.maximize))
    passes = []
    monkeypatch.setattr(build, "stats_pass", lambda *a, **k: passes.append("atlas") or stats_pass(*a, **k))
    monkeypatch.setattr(top, "stream_top", lambda *a, **k: passes.append("top") or stream_top(*a, **k))
    out = tmp_path / "demo"
    assert main(["demo", "--model", TINY, "--images", "sample:coffee", "--iters", "4", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    assert len(done) == len(set(done)) and ("conv3", 0) in done
    assert passes == ["atlas"]    # one pass over the photo crops: the DeconvNet figure makes none of its own
    r = json.loads((out / "results.json").read_text())
    shown = r["natural"]["maximize_conv3"]
    assert shown["normalized_by"] == "photo crops (the atlas's)" and r["atlas"]["iters"] == 4
    assert len(shown["units"]) == r["atlas"]["units"] and (out / "atlas" / "layers" / "conv3.html").is_file()
    tops = r["deconvnet"]["top_activation"]
    assert len(tops) == len(shown["units"]) and all(row == sorted(row, reverse=True) for row in tops)


def test_demo_device_is_checked_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "demo"
    missing = "cuda" if not torch.cuda.is_available() else "cuda:99"
    assert main(["demo", "--model", TINY, "--device", missing, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device" in err and not out.exists()
    assert main(["demo", "--model", TINY, "--device", "tpu", "--out", str(out)]) == 2 and not out.exists()


def test_demo_of_a_resnet_sweeps_its_stages_and_draws_classes_only_from_its_output(tmp_path, capsys):
    """A network named otherwise than conv/fc: the sweep reads its modules (stem, stages, logits, not the
    blocks inside the stages), the atlas takes its deepest spatial stage, and the class figure comes from
    the layer that gives the network's output (cifar-vgg's fc1 is a hidden layer, not its classes)."""
    from preimage.jobs.inversion import default_layers
    from preimage.models import load_model

    assert default_layers(load_model("cifar-resnet")) == ["conv1", "stage1", "stage2", "stage3", "logits"]
    out = tmp_path / "demo"
    assert main(["demo", "--model", "cifar-resnet", "--images", "sample:coffee", "--iters", "3", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert r["atlas"]["layer"] == "stage3" and r["deconvnet"]["layer"] == "stage3"
    assert set(r["natural"]) == {"maximize_stage3", "maximize_logits", "caricature_gain"}
    assert len(r["natural"]["maximize_logits"]["probability"]) == 10
    out = tmp_path / "vgg"
    assert main(["demo", "--model", "cifar-vgg", "--images", "sample:coffee", "--layers", "conv3_2,fc1", "--iters", "3",
                 "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert "maximize_fc1" not in r["natural"] and set(r["natural"]["caricature_gain"]) == {"conv3_2", "fc1"}


def test_demo_layers_named_twice_or_unknown(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", TINY, "--layers", "conv9", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown layer 'conv9'" in err and not out.exists()  # before any work
    assert main(["demo", "--model", TINY, "--layers", "conv2,conv2", "--iters", "2", "--seed", "3", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    r = json.loads((out / "results.json").read_text())
    assert [l["layer"] for l in r["layers"]] == ["conv2"]
    assert f"Command: preimage demo --model {TINY} --layers conv2,conv2 --iters 2 --seed 3<" in (out / "report.html").read_text()


def test_demo_says_why_it_draws_no_deconvnet_or_atlas(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--model", TINY, "--layers", "fc", "--iters", "1", "--out", str(out), "--quiet"]) == 0, \
        capsys.readouterr().err
    page = (out / "report.html").read_text()
    assert "none of the swept layers (fc) has a spatial map" in page and not (out / "atlas").exists()
