"""ReLU backward rules, for nn.ReLU modules and F.relu / torch.relu / Tensor.relu calls alike."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from preimage.backward import relu_rule


class Functional(nn.Module):
    def forward(self, x):
        return torch.relu(F.relu(x * 1.0) - 0.5).relu()


def _grad(model, x, g):
    x = x.clone().requires_grad_(True)
    y = model(x)
    (gx,) = torch.autograd.grad(y, x, g)
    return y.detach(), gx


def test_rules_on_a_hand_checked_example():
    x = torch.tensor([-1.0, 2.0, 3.0])
    g = torch.tensor([1.0, -1.0, 2.0])
    class Times1(nn.Module):  # in-place ReLU needs a non-leaf input, as in any network
        def forward(self, x):
            return x * 1.0

    for model in (nn.ReLU(), nn.Sequential(Times1(), nn.ReLU(inplace=True)), nn.Sequential(nn.Identity(), nn.ReLU())):
        plain = _grad(model, x, g)
        with relu_rule("gradient"):
            assert torch.equal(_grad(model, x, g)[1], plain[1])
        with relu_rule("deconvnet"):
            y, gx = _grad(model, x, g)
            assert torch.equal(y, plain[0]) and gx.tolist() == [1.0, 0.0, 2.0]      # max(g, 0), input ignored
        with relu_rule("guided"):
            assert _grad(model, x, g)[1].tolist() == [0.0, 0.0, 2.0]                 # 1[x > 0] * max(g, 0)
        with relu_rule("leaky", 0.1):
            assert _grad(model, x, g)[1].tolist() == pytest.approx([0.1, -1.0, 2.0])  # leak through the inactive unit
    assert F.relu is not None and nn.ReLU()(x).tolist() == [0.0, 2.0, 3.0]


def test_functional_calls_follow_the_rule_and_everything_is_restored():
    before = (F.relu, torch.relu, torch.Tensor.relu)
    x = torch.tensor([-1.0, 0.7, 2.0])
    g = torch.tensor([1.0, 1.0, -1.0])
    plain_y, plain_g = _grad(Functional(), x, g)
    with relu_rule("deconvnet"):
        y, gx = _grad(Functional(), x, g)
    assert torch.equal(y, plain_y)                      # forward unchanged
    assert gx.tolist() == [1.0, 1.0, 0.0] and not torch.equal(gx, plain_g)
    try:
        with relu_rule("guided"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert (F.relu, torch.relu, torch.Tensor.relu) == before


def test_soft_rule_is_a_sigmoid_at_a_temperature_read_from_each_image():
    class Times1(nn.Module):
        def forward(self, x):
            return x * 1.0

    x = torch.tensor([[-1.0, 0.5, 2.0, -0.2], [-10.0, 5.0, 20.0, -2.0]])   # image 1 = 10 x image 0
    g = torch.tensor([[1.0, -1.0, 2.0, 3.0], [1.0, -1.0, 2.0, 3.0]])
    rms = x.pow(2).mean(dim=1, keepdim=True).sqrt()
    expected = g * torch.sigmoid(x / (0.2 * rms))
    for model in (nn.ReLU(), nn.Sequential(Times1(), nn.ReLU(inplace=True))):
        with relu_rule("soft", 0.2):
            y, gx = _grad(model, x, g)
        assert torch.equal(y, x.clamp_min(0))                                   # forward unchanged
        assert torch.allclose(gx, expected, atol=1e-6)
        # the temperature scales with the image: image 1 is image 0 times 10, so their weights agree
        assert torch.allclose(gx[0], gx[1], atol=1e-6)
        # and each image's statistics are its own: changing image 1 leaves image 0's gradient alone
        with relu_rule("soft", 0.2):
            other = _grad(model, torch.stack([x[0], torch.randn(4)]), g)[1]
        assert torch.equal(other[0], gx[0])
    with pytest.raises(Exception, match="unknown backward rule"):
        with relu_rule("softer", 0.2):
            pass


class _Functional(nn.Module):
    def forward(self, x):
        return F.relu(x) + torch.relu(x - 1)


def test_a_rule_given_its_model_reaches_that_model_only():
    """nn.ReLU modules and functional calls inside the model follow the rule; the same calls made
    by another network (or outside any) in the same block are ordinary ReLUs; all restored on exit."""
    x = torch.tensor([[-1.0, 2.0]])
    ours = nn.Sequential(nn.ReLU(), _Functional())
    other = nn.Sequential(nn.ReLU(inplace=False), _Functional())

    def grad(net, y):
        y = y.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(y).sum() * -1, y)
        return g

    plain = grad(other, x)
    with relu_rule("deconvnet", model=ours):
        # deconvnet: a negative gradient from above is cut everywhere, whatever the forward input
        assert torch.equal(grad(ours, x), torch.zeros_like(x))
        assert torch.equal(grad(other, x), plain)           # another network: plain backprop
        y = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(-F.relu(y).sum(), y)  # a call outside any network
        assert torch.equal(g, torch.tensor([[0.0, -1.0]]))
    assert type(ours[0]).forward is nn.ReLU.forward and "forward" not in vars(ours[0])
    assert torch.equal(grad(ours, x), plain)


def test_an_inner_rule_on_the_same_model_gives_the_outer_one_back():
    x = torch.tensor([[-1.0, 2.0]])
    net = nn.Sequential(nn.ReLU())

    def grad():
        y = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(-net(y).sum(), y)
        return g

    with relu_rule("deconvnet", model=net):
        with relu_rule("gradient", model=net):
            assert torch.equal(grad(), torch.tensor([[0.0, -1.0]]))
        assert torch.equal(grad(), torch.zeros_like(x))  # deconvnet again: the negative gradient is cut
    assert "forward" not in vars(net[0])
