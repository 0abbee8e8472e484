import pytest
import torch

from preimage.errors import ImageError, LayerError
from preimage.representations import CNNLayer, probe_layers


def test_output_matches_the_module_and_normalization_is_applied(tiny_model):
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    rep = CNNLayer(tiny_model, "conv2", mean, std, tiny_model.preimage_aliases, input_size=32)
    x = torch.rand(2, 3, 32, 32)
    xn = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    expected = tiny_model.features[:4](xn)
    assert torch.allclose(rep(x), expected, atol=1e-6)
    assert rep.path == "features.3" and rep.alias == "conv2"


def test_nothing_past_the_layer_runs(tiny_model):
    ran = []
    for name, m in tiny_model.named_modules():
        if name:
            m.register_forward_hook(lambda mod, i, o, name=name: ran.append(name))
    rep = CNNLayer(tiny_model, "features.3", input_size=32)
    ran.clear()
    rep(torch.rand(1, 3, 32, 32))
    assert ran == ["features.0", "features.1", "features.2", "features.3"]


def test_unknown_layer_lists_nearest(tiny_model):
    with pytest.raises(LayerError, match="conv2"):
        CNNLayer(tiny_model, "conv22", aliases=tiny_model.preimage_aliases, input_size=32)
    with pytest.raises(LayerError, match="features.3"):
        CNNLayer(tiny_model, "features.33", input_size=32)


def test_shape_and_stride(tiny_model):
    a = tiny_model.preimage_aliases
    for layer, shape, stride in [("conv1", (16, 32, 32), 1), ("conv2", (32, 16, 16), 2),
                                 ("pool3", (64, 4, 4), 8), ("fc", (10,), 8)]:
        rep = CNNLayer(tiny_model, layer, aliases=a, input_size=32)
        assert rep.probed_shape == shape and rep.stride == stride
        assert rep.output_shape(32) == shape
    assert CNNLayer(tiny_model, "conv1", aliases=a, input_size=32).relative_depth < \
        CNNLayer(tiny_model, "conv3", aliases=a, input_size=32).relative_depth


def test_bad_input_shapes(tiny_model):
    rep = CNNLayer(tiny_model, "conv1", input_size=32)
    with pytest.raises(ImageError, match="N, 3, H, W"):
        rep(torch.rand(1, 1, 8, 8))


def test_probe_lists_modules_in_run_order(tiny_model):
    rows = probe_layers(tiny_model, 32, tiny_model.preimage_aliases)
    paths = [r.path for r in rows]
    assert paths.index("features.0") < paths.index("features.3") < paths.index("head")
    assert {r.alias for r in rows} >= {"conv1", "fc"}


def test_model_gets_no_parameter_gradients(tiny_model):
    from preimage.optimize import invert

    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    invert(rep, torch.rand(1, 3, 32, 32), iters=3)
    assert all(p.grad is None for p in tiny_model.parameters())
