import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from preimage.cli import main

HERE = Path(__file__).parent
TINY = f"{HERE / 'tiny_models.py'}:tiny"


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_invert_writes_pngs_side_by_side_and_json(tmp_path, capsys):
    out = tmp_path / "o"
    code, stdout, err = run(capsys, "invert", "sample:astronaut", "sample:coffee", "--model", TINY,
                            "--layer", "conv2", "--iters", "20", "--samples", "2", "--out", out, "--quiet")
    assert code == 0, err
    r = json.loads((out / "results.json").read_text())
    assert r["model"] == TINY and r["layer"] == "conv2" and r["preset"] == "default" and r["iters"] == 20
    assert isinstance(r["seconds"], float) and len(r["images"]) == 4
    for rec in r["images"]:
        assert set(rec) >= {"input", "output", "sample", "feature_error", "image_error", "psnr", "ssim"}
        assert (out / rec["output"]).is_file()
    assert {rec["sample"] for rec in r["images"]} == {0, 1}
    assert (out / "side_by_side.png").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_window_and_channels_through_the_cli(tmp_path, capsys):
    code, _, err = run(capsys, "invert", "sample:chelsea", "--model", TINY, "--layer", "conv2", "--iters", "5",
                       "--window", "3", "--channels", "0:8", "--out", tmp_path / "o", "--quiet")
    assert code == 0, err
    r = json.loads((tmp_path / "o" / "results.json").read_text())
    assert r["window"] == 3 and r["channels"] == "0:8" and "channels 0:8, 3x3 window" in r["objective"]


def _bad_weights(tmp_path):
    p = tmp_path / "bad.safetensors"
    save_file({"features.0.weight": torch.zeros(2, 3, 3, 3)}, str(p))
    return p


@pytest.mark.parametrize("case,args,msg", [
    ("missing file", ["invert", "nope.png", "--model", TINY, "--layer", "conv1"], "not found"),
    ("unreadable", ["invert", "BAD", "--model", TINY, "--layer", "conv1"], "cannot read image"),
    ("unknown layer", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv9"], "unknown layer 'conv9'"),
    ("mean length", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv1", "--mean", "0.5,0.5"], "3 values"),
    ("factory raises", ["invert", "sample:coffee", "--model", f"{HERE / 'tiny_models.py'}:broken", "--layer", "conv1"],
     "raised RuntimeError"),
    ("weights do not fit", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv1", "--weights", "WEIGHTS"],
     "do not fit"),
    ("bad channels", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv1", "--channels", "4:999"], "channels"),
    ("bad samples", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv1", "--samples", "0"], "at least 1"),
    ("bad preset", ["invert", "sample:coffee", "--model", TINY, "--layer", "conv1", "--preset", "nope"], "mv2016"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case, args, msg):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    args = [str(bad) if a == "BAD" else str(_bad_weights(tmp_path)) if a == "WEIGHTS" else a for a in args]
    out = tmp_path / "out"
    code, stdout, err = run(capsys, *args, "--iters", "3", "--out", out)
    assert code == 2, (case, err)
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and msg in lines[0], (case, err)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) <= ["bad.png", "bad.safetensors"]


def test_console_script_exit_code_and_help():
    r = subprocess.run([sys.executable, "-m", "preimage.cli", "invert", "missing.png", "--model", TINY,
                        "--layer", "conv1"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not found" in r.stderr
    h = subprocess.run([sys.executable, "-m", "preimage.cli", "invert", "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "example:" in h.stdout and "preimage invert" in h.stdout


def test_layers_lists_paths_aliases_and_shapes(capsys):
    code, out, err = run(capsys, "layers", TINY, "--size", "32")
    assert code == 0, err
    assert "features.3" in out and "conv2" in out and "32x16x16" in out
    code, out, err = run(capsys, "layers", "refnet")
    assert code == 0 and "fc6" in out and "256x4x4" in out


def test_progress_lines_in_a_pipe_and_none_with_quiet(tmp_path):
    import os

    env = dict(os.environ, OMP_NUM_THREADS="1")
    base = [sys.executable, "-m", "preimage.cli", "invert", "sample:coffee", "--model", TINY, "--layer", "conv2",
            "--iters", "5"]
    r = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("preimage: inverting")]
    assert any("started (5 it)" in ln for ln in lines) and any("done, 5/5 it in" in ln for ln in lines)
    q = subprocess.run([*base, "--quiet", "--out", str(tmp_path / "b")], capture_output=True, text=True, env=env)
    assert q.returncode == 0 and q.stderr == ""


def test_plain_progress_lines_say_what_step_elapsed_and_left():
    import io

    from preimage.progress import LogBar

    out = io.StringIO()
    b = LogBar(total=4, desc="work", unit="step", every=0.0, stream=out)
    b.update(1)
    b.set_postfix(loss="0.5")
    b.update(1)
    b.close()
    text = out.getvalue().splitlines()
    assert text[0] == "preimage: work: started (4 step)"
    assert text[1].startswith("preimage: work: 1/4 step, 0s elapsed, about 0s left")
    # closed at 2 of 4 (an error or an early end): it says where it stopped, not "done"
    assert text[2].endswith("loss 0.5") and text[-1].startswith("preimage: work: stopped at 2/4 step after")
    out = io.StringIO()
    b = LogBar(total=2, desc="work", unit="step", every=0.0, stream=out)
    b.update(2)
    b.close()
    assert out.getvalue().splitlines()[-1].startswith("preimage: work: done, 2/2 step in")
