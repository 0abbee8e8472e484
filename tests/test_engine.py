"""The engine's composable pieces: objectives bound to layers, transforms as a list, torch.optim optimizers."""

import pytest
import torch

from preimage.errors import ConfigError, LayerError
from preimage.optimize import Adam, FeatureMatch, PixelParam, RandomFlip, Stage, TotalVariation, invert, optimize
from preimage.optimize.objectives import Context
from preimage.representations import HOG, CNNLayer


def _rep(model):
    return CNNLayer(model, "conv3", input_size=16, aliases=model.preimage_aliases)


def test_one_energy_spans_two_layers_with_one_forward_pass(tiny_model):
    rep = _rep(tiny_model)
    x0, x = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    t2, t3 = rep.features_at(x0, ["conv2", None]).values()
    energy = FeatureMatch(t2, layer="conv2") + 0.5 * FeatureMatch(t3)
    assert energy.layers == {"conv2", None}
    calls = []
    h = tiny_model.features[0].register_forward_hook(lambda *a: calls.append(1))
    try:
        e = energy(Context(x, x, rep, energy.layers))
    finally:
        h.remove()
    assert len(calls) == 1  # both layers from one pass
    a2, a3 = rep.features_at(x, ["conv2", None]).values()
    by_hand = ((a2 - t2) ** 2).sum((1, 2, 3)) / (t2 ** 2).sum((1, 2, 3)) + 0.5 * ((a3 - t3) ** 2).sum((1, 2, 3)) / (t3 ** 2).sum((1, 2, 3))
    assert torch.allclose(e, by_hand, rtol=1e-5)


def test_two_layer_energy_is_minimized(tiny_model):
    rep = _rep(tiny_model)
    x0 = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        t2, t3 = rep.features_at(x0, ["conv2", None]).values()
    energy = FeatureMatch(t2, layer="conv2") + FeatureMatch(t3) + 0.01 * TotalVariation(2.0, "mean")
    param = PixelParam(torch.full((1, 3, 16, 16), 0.5), constraint="box")
    res = optimize(param, energy, Adam(0.05), [Stage(60, 0.05)], rep=rep, show=False)
    assert float(res.history[-1, 0]) < 0.5 * float(res.history[0, 0])
    assert set(res.terms) == {"feature_match@conv2", "feature_match", "0.01*tv2_mean"}


def test_layer_objective_on_a_descriptor_is_a_clear_error():
    rep = HOG()
    with pytest.raises(LayerError, match="has no layers"):
        rep.features_at(torch.rand(1, 3, 32, 32), ["conv2"])


def test_any_torch_optim_optimizer_runs_on_the_preset_schedule(tiny_model):
    rep = _rep(tiny_model)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    adamw = invert(rep, x, iters=40, seed=0, show=False, optimizer=torch.optim.AdamW)
    sgd = invert(rep, x, iters=40, seed=0, show=False, optimizer=torch.optim.SGD)
    assert float(adamw.feature_error) < 0.9 and not torch.equal(adamw.images, sgd.images)
    # torch's Adam without weight decay takes the same steps as ours (the classic recipe: plain
    # Adam; the inversion rule's PyramidAdam preconditions the gradient and forgets faster)
    from preimage.optimize.presets import Default

    ours = invert(rep, x, iters=40, seed=0, show=False, preset=Default(recipe="classic"))
    adam = invert(rep, x, iters=40, seed=0, show=False, optimizer=torch.optim.Adam, preset=Default(recipe="classic"))
    assert torch.allclose(adam.images, ours.images, atol=1e-4)
    with pytest.raises(ConfigError, match="closure"):
        invert(rep, x, iters=5, optimizer=torch.optim.LBFGS)


def test_transforms_are_a_list_run_after_the_jitter(tiny_model):
    rep = _rep(tiny_model)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    # transforms are random in the stages marked jitter (mv2016: the first 300 of 350 iterations)
    plain = invert(rep, x, preset="mv2016", iters=20, seed=0, show=False)
    flipped = invert(rep, x, preset="mv2016", iters=20, seed=0, show=False, transforms=[RandomFlip(0.5, torch.Generator().manual_seed(0))])
    assert flipped.images.shape == plain.images.shape and not torch.equal(flipped.images, plain.images)
