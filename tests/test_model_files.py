"""Model files (.toml): a network with its weights and normalization, wherever --model is accepted."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from preimage.cli import main
from preimage.errors import ModelError
from preimage.models import load_model

HERE = Path(__file__).parent


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "nets"
    d.mkdir()
    (d / "nets.py").write_text((HERE / "tiny_models.py").read_text())
    torch.manual_seed(1)
    sd = {k: torch.randn_like(v) for k, v in load_model(f"{d / 'nets.py'}:tiny").module.state_dict().items()}
    save_file(sd, str(d / "w.safetensors"))
    (d / "tiny.toml").write_text('model = "nets.py:tiny"\nweights = "w.safetensors"\n'
                                 'mean = [0.4, 0.5, 0.6]\nstd = [0.2, 0.25, 0.3]\nsize = 24\n')
    return d, sd


def test_paths_are_relative_to_the_file_and_settings_travel_with_it(model_dir, monkeypatch, tmp_path):
    d, sd = model_dir
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    info = load_model(str(d / "tiny.toml"))
    assert info.mean == (0.4, 0.5, 0.6) and info.std == (0.2, 0.25, 0.3) and info.input_size == 24
    assert all(torch.equal(info.module.state_dict()[k], sd[k]) for k in sd)


def test_command_line_options_override_the_file(model_dir):
    d, _ = model_dir
    info = load_model(str(d / "tiny.toml"), mean="0.1,0.1,0.1", input_size=16)
    assert info.mean == (0.1, 0.1, 0.1) and info.std == (0.2, 0.25, 0.3) and info.input_size == 16


def test_unknown_key_wrong_type_and_missing_file_are_refused(model_dir):
    d, _ = model_dir
    (d / "bad.toml").write_text('model = "nets.py:tiny"\nlayers = ["conv1"]\n')
    with pytest.raises(ModelError, match="unknown key.*layers"):
        load_model(str(d / "bad.toml"))
    (d / "bad2.toml").write_text('model = "nets.py:tiny"\nsize = "big"\n')
    with pytest.raises(ModelError, match="size must be a int"):
        load_model(str(d / "bad2.toml"))
    with pytest.raises(ModelError, match="model file not found"):
        load_model(str(d / "absent.toml"))
    (d / "nomodel.toml").write_text('size = 32\n')
    with pytest.raises(ModelError, match="needs 'model"):
        load_model(str(d / "nomodel.toml"))


def test_a_zoo_name_in_a_model_file_and_the_cli(model_dir, tmp_path, capsys):
    d, _ = model_dir
    (d / "ref.toml").write_text('model = "refnet"\n')
    assert load_model(str(d / "ref.toml")).input_size == 32
    out = tmp_path / "o"
    code = main(["invert", "sample:coffee", "--model", str(d / "tiny.toml"), "--layer", "conv2", "--iters", "2",
                 "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "results.json").read_text())["size"] == 24
    code = main(["invert", "sample:coffee", "--model", str(d / "missing.toml"), "--layer", "conv2", "--out", str(out)])
    assert code == 2
