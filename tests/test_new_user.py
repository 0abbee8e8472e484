"""What a new user hit in the newer commands (output folders, corrupt data, values refused before
any work, honest figures, --help): each case as the user met it, one line on stderr, exit 2,
nothing written - or, where the command should work, that it does."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import class_folder
from test_cli import run

from preimage import results
from preimage.cli import build_parser
from preimage.report.figures import SHOWN_WIDTH, grid


def one_line(code, err):
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and "Traceback" not in err


#: each command's record file
RECORD = {"gradient-leakage": "gradient_leakage.json",
          "attack": "results.json", "robustness": "robustness.json", "transfer": "transfer.json",
          "leakage": "leakage.json", "top-activations": "results.json", "diagnose": "diagnose.json"}


@pytest.fixture
def classes(tmp_path):
    """Four images in each of two of refnet's class folders; the third airplane is a corrupt JPEG."""
    d = class_folder(tmp_path / "data", ("airplane", "automobile"), 4, 36, 0, "jpg", "{i:04d}")
    (d / "airplane" / "0002.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"not a jpeg" * 20)
    return d


@pytest.fixture
def clean(tmp_path):
    return class_folder(tmp_path / "clean", ("airplane", "automobile"), 4, 32, 1, "png", "{i:04d}")


# ---------------------------------------------------------------- 1, 2: output folders
@pytest.mark.parametrize("cmd", [
    ["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--iters", "2"],
    ["caricature", "sample:coffee", "--model", "refnet", "--layer", "conv2", "--iters", "2"],
    ["project", "sample:coffee", "--model", "refnet", "--layer", "conv2", "--channel", "0"],
    ["diagnose", "--model", "refnet", "--data", "CLEAN"],
    ["leakage", "--model", "refnet", "--layers", "conv2", "--private", "CLEAN"],
    ["attack", "sample:coffee", "--model", "refnet"],
])
def test_an_unwritable_out_is_one_line(capsys, clean, cmd):
    code, _, err = run(capsys, *[str(clean) if c == "CLEAN" else c for c in cmd], "--quiet", "--out", "/proc/x")
    assert one_line(code, err) and "cannot write to /proc/x" in err


def test_a_second_writer_is_refused_before_any_work(tmp_path, capsys, monkeypatch, clean):
    out = tmp_path / "o"
    import preimage.cli.natural as natural_cli
    monkeypatch.setattr(natural_cli, "maximize_units", lambda *a, **k: pytest.fail("the work started"))
    with results.Output(out, "maximize"):  # another run holds the folder for the whole of its run
        code, _, err = run(capsys, "maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--out", out)
    assert one_line(code, err) and "another preimage run is writing" in err


def test_a_folder_of_another_command_is_refused_before_any_work(tmp_path, capsys, monkeypatch, clean):
    out = tmp_path / "o"
    assert run(capsys, "attack", "sample:coffee", "--model", "refnet", "--steps", "1", "--quiet", "--out", out)[0] == 0
    import preimage.cli.backward as backward_cli
    monkeypatch.setattr(backward_cli, "stream_folder", lambda *a, **k: pytest.fail("the work started"))
    code, _, err = run(capsys, "diagnose", "--model", "refnet", "--data", clean, "--quiet", "--out", out)
    assert one_line(code, err) and "'attack'" in err


# ---------------------------------------------------------------- 3: make-shards
def test_make_shards_creates_its_folder_and_force_leaves_no_stale_shard(tmp_path, capsys, clean):
    prefix = tmp_path / "shards" / "small"          # shards/ does not exist yet
    assert run(capsys, "make-shards", clean, "--out", prefix, "--per-shard", "3", "--quiet")[0] == 0
    assert len(list((tmp_path / "shards").glob("small-*.tar"))) == 3
    assert run(capsys, "make-shards", clean, "--out", prefix, "--per-shard", "8", "--force", "--quiet")[0] == 0
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["small-000000.tar"]


# ---------------------------------------------------------------- 4, 5: corrupt data, training
def test_train_inverter_skip_bad_skips_a_corrupt_jpeg(tmp_path, capsys, classes):
    out = tmp_path / "inv.safetensors"
    code, stdout, err = run(capsys, "train-inverter", "--model", "refnet", "--layer", "conv2", "--data", classes,
                            "--steps", "2", "--batch-size", "4", "--skip-bad", "--workers", "0", "--out", out)
    assert code == 0 and out.exists() and "0002.jpg" in stdout


def test_a_corrupt_image_names_the_file_and_the_bar_does_not_say_done(tmp_path, capsys, classes, monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    code, _, err = run(capsys, "diagnose", "--model", "refnet", "--data", classes, "--workers", "0",
                       "--out", tmp_path / "o")
    assert code == 2 and "airplane/0002.jpg" in err and "BytesIO" not in err
    assert not any(re.search(r": done, \d+/8 img", line) for line in err.splitlines())


@pytest.mark.parametrize("cmd", [
    ["attack", "--model", "refnet", "--data", "DATA", "--steps", "1"],
    ["robustness", "--model", "refnet", "--data", "DATA", "--eps", "0,1/255", "--steps", "1"],
    ["transfer", "--models", "refnet,cifar-vgg", "--data", "DATA", "--steps", "1"],
    ["leakage", "--model", "refnet", "--layers", "fc6", "--private", "DATA"],
    ["gradient-leakage", "--model", "lenet-zhu", "--private", "DATA", "--n", "8", "--iters", "2"],
])
def test_every_folder_reading_command_skips_bad_images_on_request(tmp_path, capsys, classes, cmd):
    argv = [str(classes) if c == "DATA" else c for c in cmd]
    code, _, err = run(capsys, *argv, "--quiet", "--out", tmp_path / "o")
    assert one_line(code, err) and "airplane/0002.jpg" in err
    code, _, err = run(capsys, *argv, "--quiet", "--skip-bad", "--out", tmp_path / "o")
    assert code == 0, err
    record = json.loads((tmp_path / "o" / RECORD[cmd[0]]).read_text())
    assert record["skipped_unreadable"] and record["skipped_unreadable"][0].endswith("airplane/0002.jpg")


def test_train_inverter_on_shards_holds_back_validation_images(tmp_path, capsys, clean):
    prefix = tmp_path / "sh" / "train"
    assert run(capsys, "make-shards", clean, "--out", prefix, "--per-shard", "4", "--quiet")[0] == 0
    out = tmp_path / "inv.safetensors"
    code, _, err = run(capsys, "train-inverter", "--model", "refnet", "--layer", "conv2", "--data",
                       f"{prefix}-{{000000..000001}}.tar", "--steps", "2", "--batch-size", "4", "--quiet", "--out", out)
    assert code == 0, err
    assert json.loads(Path(f"{out}.json").read_text())["val_images"] >= 1


def test_an_unwritable_inverter_file_is_refused_before_training(capsys, clean, monkeypatch):
    import preimage.cli.learned as learned_cli
    monkeypatch.setattr(learned_cli, "train_inverter", lambda *a, **k: pytest.fail("training started"))
    code, _, err = run(capsys, "train-inverter", "--model", "refnet", "--layer", "conv2", "--data", clean,
                       "--out", "/proc/x.safetensors")
    assert one_line(code, err) and "cannot write /proc/x.safetensors" in err


# ---------------------------------------------------------------- 6, 7: values refused, messages right
@pytest.mark.parametrize("cmd,needle", [
    (["attack", "sample:coffee", "--model", "refnet", "--eps", "2"], "below 1"),
    (["attack", "sample:coffee", "--model", "refnet", "--norm", "2", "--eps", "60"], "diagonal"),
    (["transfer", "--models", "refnet,cifar-vgg", "--data", "CLEAN", "--eps", "2"], "below 1"),
    (["robustness", "--model", "refnet", "--data", "CLEAN", "--eps", ""], "--eps names nothing"),
    (["robustness", "--model", "refnet", "--data", "CLEAN", "--eps", "0,,1/255"], "empty item"),
    (["top-activations", "--model", "refnet", "--layer", "conv2", "--data", "CLEAN", "--workers", "999"], "core"),
    (["maximize", "--model", "refnet", "--layer", "conv5", "--classes", "all"], "--classes is for the class scores"),
    (["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--judge", "cifar-resnet"], "go together"),
    (["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--reference", "CLEAN"], "go together"),
    (["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--judge", "nosuchnet", "--reference", "CLEAN"],
     "unknown model 'nosuchnet'"),
    (["maximize", "--model", "refnet", "--layer", "fc8", "--units", "1", "--judge", "cifar-resnet", "--reference", "CLEAN"],
     "needs at least 20"),
    (["maximize", "--model", "refnet", "--layer", "fc8", "--classes", "all", "--judge", "cifar-resnet", "--reference",
      "CLEAN"], "has no class folder for bird"),
    (["diagnose", "--model", "refnet", "--data", "CLEAN", "--layers", ""], "--layers names nothing"),
    (["transfer", "--models", "refnet", "--data", "CLEAN"], "at least two different models"),
    (["transfer", "--models", "refnet,refnet", "--data", "CLEAN"], "at least two different models"),
    (["transfer", "--models", "", "--data", "CLEAN"], "--models names nothing"),
    (["attack", "sample:coffee", "--model", "refnet", "--step-size", "-1"], "--step-size must be"),
    (["attack", "sample:coffee", "--model", "refnet", "--data", "CLEAN"], "not both"),
    (["attack", "--model", "refnet"], "give images"),
])
def test_values_refused_before_work_with_the_right_message(tmp_path, capsys, clean, cmd, needle):
    code, _, err = run(capsys, *[str(clean) if c == "CLEAN" else c for c in cmd], "--quiet", "--out", tmp_path / "o")
    assert one_line(code, err) and needle in err, err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- 8: one meaning of --n
@pytest.mark.parametrize("cmd,field", [
    (["top-activations", "--model", "refnet", "--layer", "conv2", "--channels", "0:2", "--k", "2"], "files"),
    (["diagnose", "--model", "refnet", "--layers", "relu1"], "count"),
    (["attack", "--model", "refnet", "--steps", "1"], "inputs"),
])
def test_n_means_evenly_spaced_everywhere(tmp_path, capsys, clean, cmd, field):
    code, _, err = run(capsys, *cmd, "--data", clean, "--n", "2", "--quiet", "--out", tmp_path / "o")
    assert code == 0, err
    record = json.loads((tmp_path / "o" / RECORD[cmd[0]]).read_text())
    if field == "count":
        assert record["images"] == 2
        return
    if field == "files":
        used = {t["file"] for c in record["channels"] for t in c["top"]}
    else:
        used = {r["input"] for r in record["images"]}
    assert {Path(f).parent.name for f in used} == {"airplane", "automobile"}  # not the first two (both airplanes)


# ---------------------------------------------------------------- 11: honest figures
def test_attack_figure_says_how_many_it_shows_and_the_target(tmp_path, capsys, clean, monkeypatch):
    seen = {}
    real = grid

    def spy(rows, cols=None, row_labels=None, **kw):
        seen.setdefault("cols", cols)
        seen.setdefault("rows", row_labels)
        return real(rows, cols, row_labels, **kw)

    monkeypatch.setattr("preimage.report.present.grid", spy)
    code, _, err = run(capsys, "attack", "--model", "refnet", "--data", clean, "--n", "8", "--steps", "1",
                       "--target", "3", "--quiet", "--out", tmp_path / "o")
    assert code == 0, err
    assert "8 of 8" not in seen["cols"][0]
    assert all("target cat" in lab for lab in seen["rows"])
    seen.clear()
    run(capsys, "attack", *[f"sample:{s}" for s in ("coffee", "chelsea", "astronaut", "rocket", "camera", "coins",
                                                     "horse", "page", "clock", "moon")],
        "--model", "refnet", "--steps", "1", "--quiet", "--out", tmp_path / "o2")
    assert "8 of 10" in seen["cols"][0]


def test_robustness_plot_spaces_the_budgets_by_value_and_names_the_norm(tmp_path, capsys, clean, monkeypatch):
    calls = {}
    import preimage.report.plot as plot

    real = plot.curve

    def spy(xs, series, xlabel, *a, **k):
        calls.update(xs=list(xs), xlabel=xlabel, series=list(series))
        return real(xs, series, xlabel, *a, **k)

    monkeypatch.setattr(plot, "curve", spy)
    code, _, err = run(capsys, "robustness", "--model", "refnet", "--data", clean, "--eps", "0,2/255,8/255",
                       "--steps", "1", "--quiet", "--out", tmp_path / "o")
    assert code == 0, err
    assert calls["xs"] == pytest.approx([0, 2 / 255, 8 / 255]) and "L-inf" in calls["xlabel"]
    assert "PGD with 1 steps" in calls["series"][0]


def test_transfer_names_its_metric(tmp_path, capsys, clean):
    code, _, err = run(capsys, "transfer", "--models", "refnet,cifar-vgg", "--data", clean, "--steps", "1", "--quiet",
                       "--out", tmp_path / "o")
    assert code == 0, err
    assert "fooled rate" in json.loads((tmp_path / "o" / "transfer.json").read_text())["metric"]
    assert (tmp_path / "o" / "transfer.txt").read_text().startswith("fooled rate")


def test_leakage_page_names_no_path_of_the_machine_the_inverters_were_trained_on(tmp_path, capsys, clean):
    code, _, err = run(capsys, "leakage", "--model", "refnet", "--layers", "fc6", "--private", clean, "--quiet",
                       "--out", tmp_path / "o")
    assert code == 0, err
    page = (tmp_path / "o" / "leakage.html").read_text()
    assert "steps on cifar10/train" in page and "/work/" not in page.replace(str(tmp_path), "")


def test_wide_figures_draw_labels_legible_at_800_px():
    """A figure wider than an 800 px page shows is drawn with larger labels: the header text stays at
    least 9 px tall when the figure is scaled to the page's width (the demo's DeconvNet figure)."""
    rows = [[torch.rand(3, 8, 8) for _ in range(19)] for _ in range(2)]
    img = grid(rows, [f"top {i}" for i in range(19)], ["ch 0", "ch 1"], min_side=48)
    w = img.shape[1]
    band = img[:img.shape[0] - 2 * 52]  # above the image rows: the column labels
    dark = np.where((band < 100).all(axis=2).any(axis=1))[0]
    text_height = dark.max() - dark.min() + 1
    assert w > SHOWN_WIDTH and text_height * SHOWN_WIDTH / w >= 9


# ---------------------------------------------------------------- 12: --help says what each option is
@pytest.mark.parametrize("verb,options", [
    ("robustness", ["--steps", "--norm", "--out"]),
    ("transfer", ["--n", "--eps", "--steps", "--seed", "--out"]),
    ("attack", ["--method"]),
])
def test_help_describes_every_option(verb, options):
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[verb]
    for action in sub._actions:
        if set(action.option_strings) & set(options):
            assert action.help and len(action.help) > 5, action.option_strings
