"""A representation's spec is its identity: an inverter trained with one option set is refused for another."""

import pytest
import torch

from preimage.errors import WeightsError
from preimage.hooks import capture
from preimage.learned import find_bundled
from preimage.learned.decoder import build_decoder
from preimage.learned.inverter import load_inverter, save_inverter
from preimage.representations import HANDCRAFTED, build
from preimage.representations.base import Representation

# every option of every bundled descriptor, at a value the bundled file was not trained with
OTHER_VALUES = {("hog", "cell"): 4, ("hog", "orientations"): 6,
                ("lbp", "cell"): 4, ("lbp", "P"): 16, ("lbp", "R"): 3.0}


def test_every_descriptor_option_is_in_the_spec():
    for name, (ctor, options) in HANDCRAFTED.items():
        spec = ctor().spec()
        assert spec["kind"] == name and set(options) <= set(spec), (name, spec)


@pytest.mark.parametrize("name,option", sorted(OTHER_VALUES))
def test_bundled_inverter_refused_for_another_option_value(name, option):
    value = OTHER_VALUES[(name, option)]
    rep = build(f"{name}:{option}={value}")
    with pytest.raises(WeightsError, match=f"{option}={value}"):
        find_bundled(rep, 64)
    default = build(name)
    bundled = find_bundled(default, 64)
    with pytest.raises(WeightsError) as e:
        load_inverter(bundled.path, rep, 64)
    msg = str(e.value)  # both settings named
    assert f"{option}={value}" in msg and f"{option}={default.spec()[option]}" in msg


@pytest.mark.parametrize("name,option", sorted(OTHER_VALUES))
def test_cli_refuses_learned_method_for_another_option(name, option, tmp_path, capsys):
    from preimage.cli import main

    value = OTHER_VALUES[(name, option)]
    code = main(["--quiet", "invert", "sample:coffee", "--model", f"{name}:{option}={value}", "--method", "learned",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and f"{option}={value}" in err[0]
    assert not (tmp_path / "o").exists()


def test_cnn_spec_carries_normalization_and_saved_file_checks_it(tmp_path, tiny_model):
    from preimage.representations import CNNLayer

    a = CNNLayer(tiny_model, "conv2", input_size=16)
    b = CNNLayer(tiny_model, "conv2", mean=(0.5, 0.5, 0.5), input_size=16)
    assert a.spec()["layer"] == "features.3" and a.spec() != b.spec()
    path = save_inverter(build_decoder(a, 16, width=8), a, tmp_path / "inv.safetensors")
    load_inverter(path, a, 16)
    with pytest.raises(WeightsError, match="mean 0.5"):
        load_inverter(path, b, 16)


def test_representations_are_typed_and_give_hints():
    for name in HANDCRAFTED:
        rep = build(name)
        assert isinstance(rep, Representation)
        rep.hints()  # no getattr probing: every representation answers


def test_capture_restores_hooks_even_after_an_error(tiny_model):
    before = {n: dict(m._forward_hooks) for n, m in tiny_model.named_modules()}
    with capture(tiny_model, ["features.0", "conv2"], tiny_model.preimage_aliases) as cap:
        out = cap(torch.rand(2, 3, 16, 16))
    assert set(out) == {"features.0", "conv2"} and out["features.0"].shape[0] == 2
    with pytest.raises(RuntimeError), capture(tiny_model, ["features.3"]) as cap:
        cap(torch.rand(2, 5, 16, 16))  # wrong channel count: the model raises
    assert {n: dict(m._forward_hooks) for n, m in tiny_model.named_modules()} == before
