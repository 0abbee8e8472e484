"""DeconvNet against an explicit reverse network; rules on a ResNet that calls F.relu; the project command."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from preimage.backward import relu_rule
from preimage.backward.project import project_one
from preimage.cli import main
from preimage.jobs.projection.project import project
from preimage.representations import CNNLayer


class AlexLike(nn.Module):
    """conv - ReLU - max-pool (3, stride 2) twice, then conv - ReLU, like AlexNet's first layers."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(16, 12, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.features(x)


def unpool(g, switches, shape):
    """Max-unpooling with the recorded switches: each pooled value goes back to where its maximum
    came from; where overlapping windows (3x3, stride 2) share a maximum, the values add up."""
    out = torch.zeros(g.shape[0], g.shape[1], shape[0] * shape[1], dtype=g.dtype)
    out.scatter_add_(2, switches.flatten(2), g.flatten(2))
    return out.view(g.shape[0], g.shape[1], *shape)


def reverse_network(model, x, channel):
    """Zeiler & Fergus by hand: forward recording the pooling switches, keep the strongest activation
    of ``channel``, then unpool with the switches, rectify, and apply the transposed filters."""
    c1, _, p1, c2, _, p2, c3, _ = model.features
    a1 = c1(x)
    r1 = F.relu(a1)
    m1, i1 = F.max_pool2d(r1, 3, 2, return_indices=True)
    a2 = c2(m1)
    r2 = F.relu(a2)
    m2, i2 = F.max_pool2d(r2, 3, 2, return_indices=True)
    a3 = c3(m2)
    f = F.relu(a3)
    keep = torch.zeros_like(f)
    flat = f[0, channel].flatten().argmax()
    keep[0, channel].view(-1)[flat] = f[0, channel].view(-1)[flat]  # keep the strongest activation, zero the rest
    g = F.relu(keep)
    g = F.conv_transpose2d(g, c3.weight, padding=1)
    g = unpool(g, i2, r2.shape[-2:])
    g = F.relu(g)
    g = F.conv_transpose2d(g, c2.weight, padding=1)
    g = unpool(g, i1, r1.shape[-2:])
    g = F.relu(g)
    return F.conv_transpose2d(g, c1.weight, stride=2, padding=2, output_padding=1).detach()


def test_deconvnet_equals_an_explicit_reverse_network():
    model = AlexLike().eval()
    rep = CNNLayer(model, "features.7", input_size=64)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    for channel in (0, 5, 11):
        ours, _, _ = project_one(rep, x[0], channel, "deconvnet")
        by_hand = reverse_network(model, x, channel)[0]
        assert by_hand.shape == ours.shape and float(by_hand.abs().max()) > 0
        assert torch.allclose(ours, by_hand, atol=1e-5)
    # the model is exactly as before: no hooks, same flags
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules()) and not model.training


def test_rules_on_a_resnet_that_calls_f_relu_differ_from_the_gradient(photos32):
    from preimage.models import load_model

    info = load_model("cifar-resnet", pretrained=False, seed=0)
    rep = CNNLayer(info.module, "stage3", info.mean, info.std, info.aliases, 32)
    x = photos32[2]
    plain, _, where = project_one(rep, x, 7, "gradient")
    guided, _, _ = project_one(rep, x, 7, "guided", where)
    deconv, _, _ = project_one(rep, x, 7, "deconvnet", where)
    assert float(plain.abs().max()) > 0  # an active unit (the channel's strongest place)
    assert not torch.allclose(plain, guided) and not torch.allclose(plain, deconv)
    with relu_rule("gradient"):
        again, _, _ = project_one(rep, x, 7, "gradient", where)
    assert torch.allclose(plain, again)


def test_guided_backprop_agrees_with_captum():
    captum = pytest.importorskip("captum.attr", reason="captum is not installed (an optional cross-check)")
    model = AlexLike().eval()

    class Head(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x).amax((2, 3))

    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    theirs = captum.GuidedBackprop(Head(model)).attribute(x, target=3)
    with relu_rule("guided"):
        (ours,) = torch.autograd.grad(Head(model)(x)[0, 3], x)
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_project_command_and_bad_input(tmp_path, capsys):
    out = tmp_path / "p"
    assert main(["project", "sample:coffee", "sample:chelsea", "--model", "refnet", "--layer", "conv3", "--top", "2",
                 "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "results.json").read_text())
    assert len(r["images"]) == 4 and all((out / e["output"]).is_file() for e in r["images"])
    assert (out / "side_by_side.png").is_file()
    for args, needle in ((["--channel", "999"], "out of range"), (["--top", "999"], "larger than")):
        code = main(["project", "sample:coffee", "--model", "refnet", "--layer", "conv3", *args, "--out",
                     str(tmp_path / "q")])
        err = capsys.readouterr().err
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "q").exists()
    with pytest.raises(Exception, match="--channel C or --top N"):
        project(CNNLayer(nn.Sequential(nn.Conv2d(3, 2, 1)), "0", input_size=8), torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize("net, layer", [
    (nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 5), nn.ReLU()), "3"),  # unpadded
    (nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1)), "3"),
    (nn.Sequential(nn.Conv2d(3, 4, 11, stride=4, padding=2), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)), "2"),  # AlexNet's stem
])
def test_a_units_crop_is_where_its_gradient_reaches(net, layer):
    """crop_box with the measured Field puts each unit's box on the input pixels that reach it (its
    gradient's support), for padded, unpadded and strided stems alike; the old centered box was off
    by up to half a field on the unpadded network."""
    from preimage.backward.project import crop_box, field_of

    torch.manual_seed(0)
    size = 48
    rep = CNNLayer(net, layer, input_size=size)
    geometry = field_of(rep, size, probes=8)
    assert geometry.first is not None
    x = torch.rand(8, 3, size, size, requires_grad=True)
    with relu_rule("leaky", 1.0, model=net):
        f = rep.features(x)
        h, w = f.shape[-2:]
        for y, xx in ((1, 2), (h // 2, w // 2 - 1), (h - 2, w - 3)):
            (g,) = torch.autograd.grad(f[:, :, y, xx].sum(), x, retain_graph=True)
            support = g.abs().sum((0, 1)) > 0
            rows, cols = support.any(1).nonzero(), support.any(0).nonzero()
            reach = (int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
            assert crop_box((y, xx), rep.stride, geometry, size) == reach
