"""Offline checks of the zoo against the published torchvision parameter names and shapes."""

import pytest
import torch
from safetensors.torch import save_file

from preimage.errors import WeightsError
from preimage.models import load_model
from preimage.representations import CNNLayer

# torchvision.models.alexnet().state_dict(): names and shapes (written out, not imported)
ALEXNET = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}

_VGG_CONVS = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
              (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
              (26, 512, 512), (28, 512, 512)]
VGG16 = {}
for i, o, c in _VGG_CONVS:
    VGG16[f"features.{i}.weight"] = (o, c, 3, 3)
    VGG16[f"features.{i}.bias"] = (o,)
VGG16.update({"classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
              "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
              "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,)})


@pytest.mark.parametrize("name,expected", [("alexnet", ALEXNET), ("vgg16", VGG16)])
def test_layout_matches_torchvision(name, expected):
    info = load_model(name, pretrained=False)
    got = {k: tuple(v.shape) for k, v in info.module.state_dict().items()}
    assert got == expected
    assert info.mean == (0.485, 0.456, 0.406) and info.std == (0.229, 0.224, 0.225)
    assert info.input_size == 224


def test_alexnet_forward_shapes_and_aliases():
    info = load_model("alexnet", pretrained=False)
    with torch.no_grad():
        assert info.module(torch.zeros(1, 3, 224, 224)).shape == (1, 1000)
    expect = {"conv1": (64, 55, 55), "pool1": (64, 27, 27), "conv2": (192, 27, 27), "pool2": (192, 13, 13),
              "conv3": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6), "fc6": (4096,),
              "fc7": (4096,), "fc8": (1000,)}
    for alias, shape in expect.items():
        rep = CNNLayer(info.module, alias, info.mean, info.std, info.aliases, 224)
        assert rep.probed_shape == shape, alias
    assert CNNLayer(info.module, "conv1", aliases=info.aliases, input_size=224).stride == 4
    assert CNNLayer(info.module, "pool5", aliases=info.aliases, input_size=224).stride == 32


def test_vgg16_aliases_point_at_the_right_modules():
    info = load_model("vgg16", pretrained=False)
    mods = dict(info.module.named_modules())
    for alias, path in info.aliases.items():
        kind = type(mods[path]).__name__
        want = {"conv": "Conv2d", "relu": "ReLU", "pool": "MaxPool2d", "fc": "Linear"}[alias.rstrip("0123456789_")]
        assert kind == want, alias
    assert info.aliases["conv5_3"] == "features.28" and info.aliases["pool5"] == "features.30"
    rep = CNNLayer(info.module, "pool5", info.mean, info.std, info.aliases, 64)
    assert rep.probed_shape == (512, 2, 2)


def test_wrong_weights_for_a_named_model_name_the_keys(tmp_path):
    p = tmp_path / "wrong.safetensors"
    save_file({"features.0.weight": torch.zeros(96, 3, 11, 11), "conv9.weight": torch.zeros(1)}, str(p))
    with pytest.raises(WeightsError) as e:
        load_model("alexnet", weights=str(p))
    msg = str(e.value)
    assert "features.0.weight" in msg and "conv9.weight" in msg and "features.3.weight" in msg and "more" in msg


def test_offline_download_is_a_clear_error(monkeypatch, tmp_path):
    import torch.hub

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_net(*a, **k):
        raise OSError("network unreachable")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_net)
    with pytest.raises(WeightsError, match="--weights FILE"):
        load_model("alexnet")


def test_refnet_layout_and_aliases():
    info = load_model("refnet", pretrained=False)
    assert info.input_size == 32 and len(info.classes) == 10
    for alias, shape in {"conv1": (64, 32, 32), "pool2": (128, 8, 8), "conv5": (256, 8, 8),
                         "pool5": (256, 4, 4), "fc6": (512,), "fc8": (10,)}.items():
        assert CNNLayer(info.module, alias, aliases=info.aliases, input_size=32).probed_shape == shape
