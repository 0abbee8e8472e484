import math

import pytest
import torch

from preimage.errors import ConfigError
from preimage.optimize import (
    Adam,
    Context,
    FeatureMatch,
    Jitter,
    MomentumAdaGrad,
    MomentumSGD,
    Objective,
    PixelParam,
    PyramidAdam,
    Selection,
    Stage,
    get_preset,
    invert,
    jitter_amount,
    optimize,
    rescale_stages,
)
from preimage.optimize.objectives import Annealed, TotalVariation
from preimage.optimize.presets import Default, mv2015_lambda_tv, mv2015_sigma
from preimage.optimize.priors import alpha_norm, total_variation
from preimage.representations import CNNLayer
from preimage.representations.base import Hints, Representation


def _tv_by_hand(u, beta):
    n, c, h, w = u.shape
    tot = torch.zeros(n, dtype=torch.float64)
    for b in range(n):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    d1 = (u[b, k, i, j + 1] - u[b, k, i, j]) if j + 1 < w else 0.0
                    d2 = (u[b, k, i + 1, j] - u[b, k, i, j]) if i + 1 < h else 0.0
                    tot[b] += float(d1 ** 2 + d2 ** 2) ** (beta / 2)
    return tot


def test_priors_match_their_definitions():
    u = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    for beta in (1.0, 2.0):
        assert torch.allclose(total_variation(u, beta), _tv_by_hand(u, beta))
        assert torch.allclose(total_variation(u, beta, "mean"), _tv_by_hand(u, beta) / 20)
    assert torch.allclose(alpha_norm(u, 6), (u ** 6).sum((1, 2, 3)))
    pix = (u ** 2).sum(1).sqrt() ** 6
    assert torch.allclose(alpha_norm(u, 6, "pixel"), pix.sum((1, 2)) / 20)


def test_tv_gradient_is_finite_at_flat_images_for_beta_below_two():
    u = torch.zeros(1, 3, 4, 4, requires_grad=True)
    total_variation(u, 1.0).sum().backward()
    assert torch.isfinite(u.grad).all()


def test_objective_algebra_names_and_values():
    a = Objective(lambda c: torch.tensor([1.0, 2.0]), "a")
    b = Objective(lambda c: torch.tensor([10.0, 20.0]), "b")
    e = a + 0.1 * b - a * 2
    assert torch.allclose(e(None), torch.tensor([0.0, 0.0]))
    assert e.name == "a + 0.1*b - 2*a"
    assert [t.name for t in e.terms()] == ["a", "0.1*b", "-2*a"]


def test_selection_window_and_channels():
    f = torch.arange(2 * 6 * 5 * 5, dtype=torch.float32).view(2, 6, 5, 5)
    s = Selection(window=3, channels=(2, 4))
    out = s(f)
    assert out.shape == (2, 2, 3, 3)
    assert torch.equal(out, f[:, 2:4, 1:4, 1:4])
    with pytest.raises(ConfigError):
        Selection(window=9).validate((6, 5, 5))
    with pytest.raises(ConfigError):
        Selection(channels=(4, 9)).validate((6, 5, 5))
    with pytest.raises(ConfigError):
        Selection(window=2).validate((10,))


class _Lin(torch.nn.Module):
    """A tiny linear 'network' so energies can be computed by hand."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 2, 1, bias=False)
        torch.nn.init.constant_(self.conv.weight, 0.5)

    def forward(self, x):
        return self.conv(x)


def _tiny_rep():
    return CNNLayer(_Lin(), "conv", mean=(0.4, 0.5, 0.6), std=(0.25, 0.25, 0.25), input_size=6)


def _energy_of(setup, rep, u):
    setup.param.u.data.copy_(u)
    img = setup.jitter.center(setup.param.image())
    return setup.objective(Context(img, setup.param.u, rep))


def test_mv2015_energy_is_exactly_its_definition():
    rep = _tiny_rep()
    x0 = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    phi0 = rep(x0)
    setup = get_preset("mv2015").setup(rep, phi0, Selection(), (6, 6), torch.Generator().manual_seed(1))
    u = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(2)) * 40
    e = _energy_of(setup, rep, u)
    # by hand, in 0-255 units minus the mean color
    mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    x = mean + u / 255
    sigma = 27098.1 * math.sqrt(3 * 6 * 6 / (3 * 227 * 227))
    feat = ((rep(x) - phi0) ** 2).sum((1, 2, 3)) / (phi0 ** 2).sum((1, 2, 3))
    lam_tv = mv2015_lambda_tv(rep)  # the only module: last third by depth -> 100
    assert lam_tv == 100.0
    expected = sigma ** 2 * feat + lam_tv / 2 * _tv_by_hand(u.double(), 2).float() + 8e-10 / 2 * (u ** 6).sum((1, 2, 3))
    assert torch.allclose(e, expected, rtol=1e-4)
    assert sum(s.iters for s in setup.stages) == 400
    assert [s.lr for s in setup.stages] == [0.004, 0.0004, 0.00004]
    assert isinstance(setup.optimizer, MomentumSGD) and setup.reset_on_lr_change


def test_mv2016_energy_is_exactly_its_definition():
    rep = _tiny_rep()
    x0 = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
    phi0 = rep(x0)
    setup = get_preset("mv2016").setup(rep, phi0, Selection(), (6, 6), torch.Generator().manual_seed(1))
    assert setup.jitter.t == 1  # stride 1 -> T = 1
    u = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(2)) * 40
    e = _energy_of(setup, rep, u)
    mean = torch.tensor([0.4, 0.5, 0.6]).view(1, 3, 1, 1)
    x = mean + u / 255
    B = 80.0
    feat = ((rep(x) - phi0) ** 2).sum((1, 2, 3)) / (phi0 ** 2).sum((1, 2, 3))
    n_alpha = ((u ** 2).sum(1).sqrt() ** 6).sum((1, 2)) / 36
    tv = _tv_by_hand(u.double(), 2).float() / 36
    expected = 1.0 * feat + (1 / B) ** 6 * n_alpha + (6.5 / B) ** 2 * tv
    assert torch.allclose(e, expected, rtol=1e-4)
    lr = 0.05 * B ** 2 / 6
    assert [(s.iters, s.jitter) for s in setup.stages] == [(300, True), (50, False)]
    assert setup.stages[0].lr == pytest.approx(36 * lr) and setup.stages[1].lr == pytest.approx(3.6 * lr)


def test_mv2016_init_and_ball_constraint():
    rep = _tiny_rep()
    phi0 = rep(torch.rand(1, 3, 6, 6))
    setup = get_preset("mv2016").setup(rep, phi0, Selection(), (6, 6), torch.Generator().manual_seed(1))
    u = setup.param.u.detach()
    assert float(torch.quantile(u.abs().flatten(), 0.95)) == pytest.approx(80 / math.sqrt(3), rel=1e-4)
    setup.param.u.data.fill_(1000.0)
    setup.param.project()
    assert torch.allclose(setup.param.u.pow(2).sum(1).sqrt(), torch.full((1, 6, 6), 160.0))


def test_mv2015_init_has_norm_sigma():
    rep = _tiny_rep()
    phi0 = rep(torch.rand(2, 3, 6, 6))
    setup = get_preset("mv2015").setup(rep, phi0, Selection(), (6, 6), torch.Generator().manual_seed(1))
    norms = setup.param.u.detach().flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.full((2,), mv2015_sigma((3, 6, 6))), rtol=1e-5)


def test_lambda_tv_bands():
    from preimage.representations.cnn import cvpr_band

    got = {a: cvpr_band(a) for a in ["conv1", "relu2", "pool2", "norm2", "conv3", "relu4", "conv5", "pool5", "fc6", "fc8"]}
    assert got == {"conv1": 1, "relu2": 1, "pool2": 10, "norm2": 10, "conv3": 10, "relu4": 10,
                   "conv5": 100, "pool5": 100, "fc6": 100, "fc8": 100}


def test_jitter_amount_and_crops():
    assert [jitter_amount(s) for s in (1, 4, 8, 16, 32)] == [1, 1, 2, 4, 8]
    j = Jitter(4, torch.Generator().manual_seed(0))
    x = torch.arange(10 * 10, dtype=torch.float32).view(1, 1, 10, 10)
    crops = {tuple(j(x).flatten()[:1].tolist()) for _ in range(40)}
    assert all(j(x).shape == (1, 1, 7, 7) for _ in range(3)) and len(crops) > 1
    assert torch.equal(j(x, random=False), x[..., 1:8, 1:8])


def test_default_preset_settings_by_kind_of_code():
    """Spatial codes: TV weight and rate by CVPR band; inverting them, the issue-11 rule without
    jitter; maximizing (or the classic recipe), 60% of the iterations jittered with T from the
    stride; vector codes: TV 1, rate 0.02 and no jitter (no padded border either)."""
    from preimage.optimize.presets import Default
    from preimage.representations.base import Hints, Representation
    from preimage.representations.cnn import cvpr_band

    class R(Representation):
        def __init__(self, alias, stride):
            super().__init__()
            self.alias, self._stride = alias, stride

        @property
        def stride(self):
            return self._stride

        def hints(self):
            return Hints(mv2015_lambda_tv=cvpr_band(self.alias))
    gen = torch.Generator().manual_seed(0)
    p = Default()
    conv5, fc6 = R("conv5", 16), R("fc6", 32)
    spatial, vector = torch.ones(1, 4, 2, 2), torch.ones(1, 10)
    # inverting a code: the issue-11 rule, no jitter, TV annealed from 10 w to w / 4
    s = p.setup(conv5, spatial, Selection(), (16, 16), gen)
    assert (p.tv_weight(conv5, spatial), p.learning_rate(conv5, spatial)) == (0.4, 0.15)
    assert [(st.iters, st.jitter) for st in s.stages] == [(300, False)]
    assert s.jitter.pad == 0 and s.param.u.shape == (1, 3, 16, 16)
    assert s.relu == ("soft", 0.2) and isinstance(s.optimizer, PyramidAdam) and s.optimizer.betas == (0.9, 0.8)
    tv = [t for t in s.objective.terms() if isinstance(t, Annealed)]
    assert len(tv) == 1 and (tv[0].weight(0.0), tv[0].weight(1.0)) == pytest.approx((4.0, 0.1))
    # activation maximization (a data term) and the classic recipe: plain Adam, jitter, constant TV
    for s in (p.setup(conv5, spatial, Selection(), (16, 16), gen, data_term=FeatureMatch(spatial) * -1.0),
              Default(recipe="classic").setup(conv5, spatial, Selection(), (16, 16), gen)):
        assert [(st.iters, st.jitter) for st in s.stages] == [(180, True), (120, False)]
        assert s.jitter.pad == 3 and s.param.u.shape == (1, 3, 19, 19)
        assert s.relu is None and type(s.optimizer) is Adam
        assert not any(isinstance(t, Annealed) for t in s.objective.terms())
    v = p.setup(fc6, vector, Selection(), (16, 16), gen)
    assert (p.tv_weight(fc6, vector), p.learning_rate(fc6, vector)) == (1.0, 0.02)
    assert [(st.iters, st.jitter) for st in v.stages] == [(300, False)]
    assert v.jitter.pad == 0 and v.param.u.shape == (1, 3, 16, 16)
    # an explicit share wins over the rule
    assert Default(jitter_frac=0.5).jitter_share(fc6, vector) == 0.5
    assert Default(jitter_frac=0.5).setup(conv5, spatial, Selection(), (16, 16), gen).stages[0].jitter
    with pytest.raises(ConfigError):
        Default(recipe="fast")


def test_handcrafted_descriptors_and_hybrid_keep_the_classic_recipe():
    from preimage.optimize.presets import Hybrid
    from preimage.representations import HOG

    hog = HOG()
    gen = torch.Generator().manual_seed(0)
    code = hog(torch.rand(1, 3, 32, 32))
    for preset, rep in ((Default(), hog), (Hybrid(), R1())):
        s = preset.setup(rep, code if rep is hog else torch.ones(1, 4, 2, 2), Selection(), (32, 32), gen)
        assert s.relu is None and type(s.optimizer) is Adam


class R1(Representation):
    stride = 8

    def hints(self):
        return Hints(mv2015_lambda_tv=100.0)


def test_annealed_term_runs_from_start_to_end_with_progress():
    x = torch.rand(2, 3, 8, 8)
    tv = TotalVariation(2.0, "mean")
    a = tv.annealed(4.0, 0.25)
    for progress, w in ((0.0, 4.0), (0.5, 1.0), (1.0, 0.25), (2.0, 0.25)):
        ctx = Context(x, x, progress=progress)
        assert torch.allclose(a(ctx), tv(ctx) * w)
    assert "4->0.25" in a.name
    with pytest.raises(ValueError):
        tv.annealed(0.0, 1.0)
    # the loop hands the progress to the terms: first iteration 0, last 1
    seen = []
    probe = Objective(lambda c: seen.append(c.progress) or c.image.sum(dim=(1, 2, 3)) * 0, "probe")
    optimize(PixelParam(x.clone()), probe + tv, Adam(0.01), [Stage(5, 0.01)], show=False)
    assert seen[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_pyramid_adam_amplifies_coarse_gradients_only():
    g = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    flat = torch.ones_like(g) * 1e-3
    # levels = 0 is Adam itself
    u1, u2 = torch.zeros_like(g), torch.zeros_like(g)
    a, b = PyramidAdam(0.1, levels=0), Adam(0.1)
    for _ in range(3):
        a.step(u1, g)
        b.step(u2, g)
    assert torch.allclose(u1, u2)
    # a constant gradient is all coarse: amplified 1 + 2 + 4 + 8 = 15 times before Adam normalizes it,
    # so the first step is the same; a zero-mean checkerboard has no coarse part: unchanged
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None]).remainder(2).float().mul(2).sub(1) * 1e-3
    checker = checker.expand_as(g).contiguous()
    for grad in (flat, checker):
        u1, u2 = torch.zeros_like(g), torch.zeros_like(g)
        PyramidAdam(0.1, levels=3, weight=2.0).step(u1, grad)
        Adam(0.1).step(u2, grad)
        assert torch.allclose(u1, u2, atol=1e-5)
    # a gradient with both parts: the coarse part's share of the step grows
    mixed = flat * 0.2 + checker
    u1, u2 = torch.zeros_like(g), torch.zeros_like(g)
    opt_p, opt_a = PyramidAdam(0.1, levels=3, weight=2.0), Adam(0.1)
    for _ in range(5):
        opt_p.step(u1, mixed)
        opt_a.step(u2, mixed)
    assert float(u1.mean().abs()) > 2 * float(u2.mean().abs())


def test_momentum_reset_on_lr_change():
    # Minimize 0.5*u^2 with momentum SGD; resetting momentum changes the trajectory.
    def run(reset):
        p = PixelParam(torch.ones(1, 3, 2, 2))
        obj = Objective(lambda c: 0.5 * c.pixels.pow(2).flatten(1).sum(1), "q")
        opt = MomentumSGD(0.1)
        optimize(p, obj, opt, [Stage(5, 0.1), Stage(5, 0.05)], reset_on_lr_change=reset)
        return p.u.detach().clone()
    assert not torch.allclose(run(True), run(False))


def test_adagrad_rule_by_hand():
    opt = MomentumAdaGrad(lr=10.0)
    u = torch.zeros(3)
    g = torch.tensor([1.0, -2.0, 0.5])
    opt.step(u, g)
    G = g ** 2
    m = -g / (1 / 10.0 + G.sqrt())
    assert torch.allclose(u, m)
    opt.step(u, g)
    G2 = 0.9 * G + g ** 2
    m2 = 0.9 * m - g / (0.1 + G2.sqrt())
    assert torch.allclose(u, m + m2)


def test_rescale_stages_keeps_proportions():
    st = rescale_stages([Stage(300, 1.0, True), Stage(50, 0.1)], 35)
    assert [s.iters for s in st] == [30, 5] and st[0].jitter
    with pytest.raises(ConfigError):
        rescale_stages(st, 0)


def test_box_constraint_holds():
    p = PixelParam(torch.full((1, 3, 4, 4), 3.0), constraint="box")
    assert float(p.image().detach().max()) == 1.0
    q = PixelParam(torch.zeros(1, 3, 2, 2), scale=255.0, offset=(0.2, 0.5, 0.9), constraint="box")
    q.u.data.fill_(-1000)
    q.project()
    assert torch.allclose(q.image(), torch.zeros(1, 3, 2, 2), atol=1e-6)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="mv2015"):
        get_preset("mv2017")
    classic = get_preset("classic")
    assert classic.name == "classic" and not classic.inverting(R1())


def test_adam_matches_torch():
    from preimage.optimize import Adam

    torch.manual_seed(0)
    u = torch.randn(5)
    ref = u.clone().requires_grad_(True)
    opt_ref = torch.optim.Adam([ref], lr=0.1)
    ours = Adam(0.1)
    for _ in range(5):
        g = torch.randn(5)
        ours.step(u, g)
        ref.grad = g.clone()
        opt_ref.step()
    assert ours._fused is not None or not hasattr(torch, "_fused_adam_")  # the fused kernel ran
    assert torch.allclose(u, ref.detach(), atol=1e-6)
    # the fallback (no fused kernel) follows the same rule, through a reset
    p = torch.randn(5)
    ref2 = p.clone().requires_grad_(True)
    plain, opt2 = Adam(0.1), torch.optim.Adam([ref2], lr=0.1)
    plain._fused = None
    for k in range(6):
        if k == 3:
            plain.reset()
            opt2 = torch.optim.Adam([ref2], lr=0.1)
        g = torch.randn(5)
        plain.step(p, g)
        ref2.grad = g.clone()
        opt2.step()
    assert torch.allclose(p, ref2.detach(), atol=1e-6)


def test_adam_reads_permuted_gradients_and_images_correctly():
    """The fused kernel walks memory in order: a gradient or start image with permuted strides (a
    color-space prior, a channels-last start) must give the same steps as a contiguous one."""
    from preimage.optimize import Adam
    from preimage.optimize.param import PixelParam

    torch.manual_seed(0)
    g = torch.randn(2, 4, 5, 3).permute(0, 3, 1, 2)          # (2, 3, 4, 5), channels last in memory
    assert not g.is_contiguous()
    u1, u2 = torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5)
    a, b = Adam(0.1), Adam(0.1)
    for _ in range(3):
        a.step(u1, g)
        b.step(u2, g.contiguous())
    assert torch.equal(u1, u2)
    start = torch.rand(2, 4, 5, 3).permute(0, 3, 1, 2)
    p = PixelParam(start)
    assert p.u.is_contiguous() and torch.equal(p.u.detach(), start)


def test_divergence_is_a_clear_error():
    from preimage.errors import DivergedError

    p = PixelParam(torch.ones(1, 3, 2, 2))
    obj = Objective(lambda c: c.pixels.pow(2).flatten(1).sum(1), "q")
    with pytest.raises(DivergedError, match="diverged at iteration"):
        optimize(p, obj, MomentumSGD(10.0), [Stage(500, 10.0)])


def test_plateau_stops_early_on_a_flat_energy():
    from preimage.optimize import Plateau

    p = PixelParam(torch.zeros(1, 3, 2, 2))
    obj = Objective(lambda c: c.pixels.pow(2).flatten(1).sum(1) + 1.0, "flat")
    res = optimize(p, obj, MomentumSGD(0.1), [Stage(500, 0.1)], stop=Plateau(500, patience=10))
    assert res.iterations == 11 and res.history.shape == (11, 1)


def test_converged_ends_each_image_on_its_own_and_holds_it():
    """Two independent quadratics, one 100x stiffer: the stiff one converges first, is held from
    then on, and the run ends when the second one converges, before the cap."""
    from preimage.optimize.loop import Converged

    p = PixelParam(torch.stack([torch.full((3, 2, 2), 0.9), torch.full((3, 2, 2), 0.9)]), constraint="box")
    k = torch.tensor([100.0, 1.0])
    obj = Objective(lambda c: k * (c.pixels - 0.5).pow(2).flatten(1).sum(1), "q")
    stop = Converged(2000, window=10, rel_tol=1e-3)
    res = optimize(p, obj, MomentumSGD(0.001), [Stage(2000, 0.001)], stop=stop)
    first, second = res.stopped.tolist()
    assert first < second == res.iterations < 2000
    held = res.history[first:, 0]              # the stiff image's energy no longer moves once it is done
    assert torch.allclose(held, held[0].expand_as(held))
    with pytest.raises(ConfigError, match="window"):
        Converged(10, window=0)


def test_inversion_stops_per_image_independently_of_its_batch(tiny_model, photos32):
    """With the classic recipe (a constant TV weight) the convergence test ends images early; an
    image's result and its iteration count are the same alone and beside another image."""
    rep = CNNLayer(tiny_model, "conv2", input_size=32)
    both = invert(rep, photos32[:2], preset="classic", iters=200, converge=(10, 1e-2), show=False)
    alone = invert(rep, photos32[1:2], preset="classic", iters=200, converge=(10, 1e-2), show=False)
    assert both.stopped is not None and int(both.stopped.max()) < 200
    assert int(alone.stopped[0, 0]) == int(both.stopped[1, 0])
    assert torch.allclose(alone.images[0], both.images[1], atol=1e-5)     # the same within float noise
    full = invert(rep, photos32[1:2], preset="classic", iters=200, converge=False, show=False)
    assert full.stopped is None and full.iterations == 200
