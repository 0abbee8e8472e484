from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from preimage.errors import ModelError, WeightsError
from preimage.models import load_model, read_state_dict

HERE = Path(__file__).parent
SPEC = f"{HERE / 'tiny_models.py'}:tiny"


def test_factory_from_file_and_module():
    info = load_model(SPEC)
    assert type(info.module).__name__ == "TinyNet"
    assert info.input_size == 32 and info.aliases["conv2"] == "features.3"
    info2 = load_model("tiny_models:tiny")  # tests/ is on sys.path
    assert type(info2.module).__name__ == "TinyNet"


def test_mean_std_parsed_and_checked():
    info = load_model(SPEC, mean="0.5,0.4,0.3", std="0.2, 0.2, 0.2")
    assert info.mean == (0.5, 0.4, 0.3) and info.std == (0.2, 0.2, 0.2)
    with pytest.raises(ModelError, match="3 values"):
        load_model(SPEC, mean="0.5,0.5")
    with pytest.raises(ModelError, match="numbers"):
        load_model(SPEC, std="a,b,c")


@pytest.mark.parametrize("spec,msg", [
    (f"{HERE / 'tiny_models.py'}:broken", "raised RuntimeError: cannot build"),
    (f"{HERE / 'tiny_models.py'}:not_a_module", "not a torch.nn.Module"),
    (f"{HERE / 'tiny_models.py'}:missing", "no callable 'missing'"),
    ("no/such/file.py:f", "not found"),
    ("no_such_package_xyz:f", "cannot import"),
    ("refnett", "did you mean refnet"),
])
def test_model_errors(spec, msg):
    with pytest.raises(ModelError, match=msg):
        load_model(spec)


def _sd():
    torch.manual_seed(1)
    from tiny_models import TinyNet
    return TinyNet().state_dict()


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "module_prefix", "safetensors"])
def test_weight_formats(tmp_path, wrap):
    sd = _sd()
    if wrap == "safetensors":
        p = tmp_path / "w.safetensors"
        save_file(sd, str(p))
    else:
        p = tmp_path / "w.pt"
        obj = {"bare": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
               "module_prefix": {f"module.{k}": v for k, v in sd.items()}}[wrap]
        torch.save(obj, p)
    info = load_model(SPEC, weights=str(p))
    for k, v in info.module.state_dict().items():
        assert torch.equal(v, sd[k])


def test_mismatched_weights_name_the_keys(tmp_path):
    sd = _sd()
    sd["extra.weight"] = torch.zeros(1)
    del sd["head.bias"]
    sd["features.0.weight"] = torch.zeros(8, 3, 3, 3)
    p = tmp_path / "w.safetensors"
    save_file(sd, str(p))
    with pytest.raises(WeightsError) as e:
        load_model(SPEC, weights=str(p))
    msg = str(e.value)
    assert "head.bias" in msg and "extra.weight" in msg and "features.0.weight" in msg


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_objects_are_refused(tmp_path):
    p = tmp_path / "evil.pt"
    torch.save({"state_dict": Evil()}, p)
    with pytest.raises(WeightsError, match="only unpickling could rebuild, which preimage refuses"):
        read_state_dict(p)


def test_missing_and_garbage_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        read_state_dict(tmp_path / "none.pt")
    g = tmp_path / "g.safetensors"
    g.write_bytes(b"\x00" * 100)
    with pytest.raises(WeightsError):
        read_state_dict(g)
