"""Every bad input a new user tried: one line on stderr, exit 2, nothing written, inputs untouched."""

import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from preimage.cli import main

HERE = Path(__file__).parent
TINY = f"{HERE / 'tiny_models.py'}:tiny"
FEATURES = f"{HERE / 'tiny_models.py'}:features_only"


from conftest import class_folder  # noqa: E402  (tests/ is on the path: conftest)
from test_cli import run  # noqa: E402


def one_line_error(code, err):
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and "Traceback" not in err and "\x1b[" not in err


def digest(folder: Path):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def photos(tmp_path):
    return class_folder(tmp_path / "photos")


INVERT = ["invert", "sample:coffee", "--model", TINY, "--layer", "conv2", "--iters", "2", "--quiet"]


@pytest.mark.parametrize("extra,needle", [
    (["--size", "-32"], "--size"),
    (["--device", "cuda:7"], "cuda"),
    (["--device", "banana"], "banana"),
    (["--device", "mps"], "float64"),
    (["--std", "inf,1,1"], "finite"),
    (["--mean", "nan,nan,nan"], "finite"),
    (["--std", "0,1,1"], "positive"),
])
def test_invert_bad_options(tmp_path, capsys, extra, needle):
    code, _, err = run(capsys, *INVERT, *extra, "--out", tmp_path / "o")
    assert one_line_error(code, err) and needle in err
    assert not (tmp_path / "o").exists()


def test_atlas_device_is_checked_before_the_model_loads(tmp_path, capsys, photos):
    import torch

    missing = "cuda:0" if not torch.cuda.is_available() else "banana"
    code, _, err = run(capsys, "atlas", "--model", TINY, "--data", photos, "--device", missing, "--out", tmp_path / "site")
    assert one_line_error(code, err) and "--device" in err and not (tmp_path / "site").exists()


def test_a_gpu_index_beyond_the_machines_is_refused(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    code, _, err = run(capsys, *INVERT, "--device", "cuda:2", "--out", tmp_path / "o")
    assert one_line_error(code, err) and "2 CUDA GPU(s), cuda:0 to cuda:1" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cmd", [
    [*INVERT, "--out"],
    ["evaluate", "--rep", "hog", "--n", "2", "--size", "32", "--iters", "2", "--quiet", "--data", "DATA", "--out"],
    ["train-inverter", "--model", "hog", "--size", "32", "--steps", "2", "--data", "DATA", "--quiet", "--out"],
    ["demo", "--model", TINY, "--layers", "conv1", "--iters", "1", "--quiet", "--out"],
])
def test_unwritable_output_is_one_line(capsys, cmd, photos):
    cmd = [str(photos) if c == "DATA" else c for c in cmd]
    code, _, err = run(capsys, *cmd, "/proc/preimage-test/out")
    assert one_line_error(code, err), err


def test_evaluate_needs_two_images_and_a_folder_out(tmp_path, capsys, photos):
    base = ["evaluate", "--rep", "hog", "--size", "32", "--iters", "2", "--quiet"]
    code, _, err = run(capsys, *base, "--data", photos, "--n", "1", "--out", tmp_path / "o")
    assert one_line_error(code, err) and "at least 2" in err
    single = tmp_path / "single"
    single.mkdir()
    Image.new("RGB", (32, 32)).save(single / "a.png")
    code, _, err = run(capsys, *base, "--data", single, "--out", tmp_path / "o")
    assert one_line_error(code, err) and "at least 2" in err
    f = tmp_path / "afile"
    f.write_text("keep me")
    code, _, err = run(capsys, *base, "--data", photos / "cat", "--out", f)
    assert one_line_error(code, err) and f.read_text() == "keep me"


def test_train_inverter_output_rules(tmp_path, capsys, photos):
    base = ["train-inverter", "--model", "hog", "--size", "32", "--steps", "2", "--val-n", "2", "--width", "8",
            "--data", photos, "--quiet"]
    code, _, err = run(capsys, *base, "--lr", "inf", "--out", tmp_path / "i.safetensors")
    assert one_line_error(code, err) and "finite" in err
    code, _, err = run(capsys, *base, "--out", tmp_path)
    assert one_line_error(code, err) and "folder" in err
    other = tmp_path / "notes.safetensors"
    other.write_text("not an inverter")
    code, _, err = run(capsys, *base, "--out", other)
    assert one_line_error(code, err) and "--force" in err and other.read_text() == "not an inverter"


def test_diverging_training_fails_and_writes_no_weights(tmp_path, capsys, photos):
    out = tmp_path / "inv.safetensors"
    code, _, err = run(capsys, "train-inverter", "--model", "hog", "--size", "32", "--steps", "20", "--val-n", "2",
                       "--width", "8", "--data", photos, "--lr", "1e6", "--quiet", "--out", out)
    assert one_line_error(code, err) and "diverged at step" in err and "1e+06" in err
    assert not out.exists()
    w = tmp_path / "c.safetensors"
    code, _, err = run(capsys, "train-classifier", "--data", photos, "--arch", TINY, "--epochs", "2",
                       "--batch-size", "3", "--lr", "1e12", "--quiet", "--out", w)
    assert one_line_error(code, err) and "diverged" in err and not w.exists()


def test_train_classifier_on_a_folder_smaller_than_a_batch(tmp_path, capsys, photos):
    w = tmp_path / "w.safetensors"
    code, out, err = run(capsys, "train-classifier", "--data", photos, "--arch", TINY, "--epochs", "1", "--quiet",
                         "--out", w)
    assert code == 0, err
    assert "fewer than a batch of 256" in out and w.is_file() and not Path(str(w) + ".ckpt").exists()


def test_eval_classifier_refusals(tmp_path, capsys, photos):
    existing = tmp_path / "r.json"
    existing.write_text("{}")
    code, _, err = run(capsys, "eval-classifier", "--model", TINY, "--data", photos, "--quiet", "--out", existing)
    assert one_line_error(code, err) and "--force" in err and existing.read_text() == "{}"
    code, _, err = run(capsys, "eval-classifier", "--model", TINY, "--data", photos, "--mean", "nan,nan,nan", "--quiet")
    assert one_line_error(code, err)
    code, _, err = run(capsys, "eval-classifier", "--model", FEATURES, "--data", photos, "--quiet")
    assert one_line_error(code, err) and "one score per class" in err
    code, _, err = run(capsys, "eval-classifier", "--help")
    assert code == 0


def test_help_texts_describe_only_what_the_command_has(capsys):
    for cmd in ("demo", "evaluate"):
        run(capsys, cmd, "--help")
    main(["demo", "--help"])
    assert "--method" not in capsys.readouterr().out
    main(["eval-classifier", "--help"])
    assert "hog" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        from preimage.cli import build_parser
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out.startswith("preimage ")


def test_unsafe_pickle_is_refused_in_one_line_of_our_own(tmp_path, capsys):
    from tiny_models import Blob

    bad = tmp_path / "pickled.pt"
    torch.save({"weights": Blob()}, str(bad))
    code, _, err = run(capsys, *INVERT, "--weights", bad, "--out", tmp_path / "o")
    assert one_line_error(code, err) and "unpickling" in err and "two options" not in err


def test_rerun_replaces_exactly_the_earlier_output(tmp_path, capsys):
    out = tmp_path / "o"
    assert run(capsys, "invert", "sample:coffee", "sample:astronaut", "--model", TINY, "--layer", "conv2",
               "--iters", "2", "--quiet", "--out", out)[0] == 0
    assert run(capsys, *INVERT, "--out", out)[0] == 0
    files = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    listed = {r["output"] for r in json.loads((out / "results.json").read_text())["images"]}
    assert files == listed | {"results.json", "side_by_side.png"}
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("x")
    before = digest(foreign)
    code, _, err = run(capsys, *INVERT, "--out", foreign)
    assert one_line_error(code, err) and "--force" in err and digest(foreign) == before


def test_a_busy_output_folder_is_refused(tmp_path, capsys):
    from preimage import _io

    out = tmp_path / "o"
    with _io.StagedDir(out, command="invert"):
        code, _, err = run(capsys, *INVERT, "--out", out)
    assert one_line_error(code, err) and "another preimage run" in err


def test_side_by_side_labels_are_unique(tmp_path, capsys, photos):
    out = tmp_path / "o"
    code, _, err = run(capsys, "invert", photos / "cat" / "0001.png", photos / "ship" / "0001.png", "--model", TINY,
                       "--layer", "conv2", "--iters", "2", "--quiet", "--out", out)
    assert code == 0, err
    from preimage.images import labels_for
    assert labels_for([str(photos / "cat" / "0001.png"), str(photos / "ship" / "0001.png")]) == ["cat/0001", "ship/0001"]
    names = [r["output"] for r in json.loads((out / "results.json").read_text())["images"]]
    assert len(set(names)) == 2


def test_random_weights_are_seeded(tmp_path, capsys):
    outs = []
    for k in range(2):
        o = tmp_path / f"o{k}"
        assert run(capsys, "invert", "sample:coffee", "--model", "refnet", "--random-weights", "--layer", "conv3",
                   "--iters", "3", "--seed", "0", "--quiet", "--out", o)[0] == 0
        outs.append(json.loads((o / "results.json").read_text())["images"][0]["feature_error"])
    assert outs[0] == outs[1]
