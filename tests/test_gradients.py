"""Gradient leakage: the client's gradients and updates, label recovery, the defenses, matching and
re-identification, the attacks on a tiny network, and the command end to end (bad input included),
offline, on tiny networks and a few 32 px images written to a temporary folder."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from preimage.cli import main
from preimage.errors import ConfigError
from preimage.jobs.gradients import (
    AttackSettings,
    Client,
    Defense,
    PerExample,
    Reidentify,
    attack,
    count_rule,
    label_hits,
    match,
    parse_defenses,
    recover_labels,
    run_gradient_leakage,
)
from preimage.jobs.gradients import client as client_module
from preimage.models import load_model
from preimage.models.info import ModelInfo
from preimage.models.lenet_zhu import LeNetZhu
from preimage.report.browser import check_page, find_browser, problems

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _tiny(bn: bool = False, act=nn.Sigmoid, classes: int = 10, seed: int = 0) -> ModelInfo:
    """A small 16 px convolutional net (sigmoid by default, optionally with BatchNorm)."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(3, 6, 3, stride=2, padding=1)] + ([nn.BatchNorm2d(6)] if bn else []) + [act(), nn.Flatten(),
                                                                                               nn.Linear(6 * 8 * 8, classes)]
    net = nn.Sequential(*layers)
    if bn:  # running statistics other than the batch's own, so eval and train differ
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    return ModelInfo(net.eval(), "tiny", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 16, classes=CLASSES[:classes])


def _batch(n: int, size: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


def _close(a, b, tol=1e-5):
    return all(torch.allclose(x, y, atol=tol, rtol=1e-4) for x, y in zip(a, b))


# ---------------------------------------------------------------- the client
def test_a_batch_gradient_is_the_mean_of_the_per_image_gradients_where_it_must_be():
    x, y = _batch(4)
    c = Client(_tiny())
    per_image = [c.gradient(x[i:i + 1], y[i:i + 1]) for i in range(4)]
    mean = [torch.stack(g).mean(0) for g in zip(*per_image)]
    assert _close(c.gradient(x, y), mean)
    # BatchNorm with its running statistics treats each image on its own: the same holds
    ce = Client(_tiny(bn=True), bn="eval")
    per_image = [ce.gradient(x[i:i + 2], y[i:i + 2]) for i in (0, 2)]
    assert _close(ce.gradient(x, y), [(a + b) / 2 for a, b in zip(*per_image)])
    # with each batch's own statistics the images are mixed: it does not, and the model is left as it was
    ct = Client(_tiny(bn=True), bn="train")
    before = ct.net.model[1].running_mean.clone()
    per_image = [ct.gradient(x[i:i + 2], y[i:i + 2]) for i in (0, 2)]
    assert not _close(ct.gradient(x, y), [(a + b) / 2 for a, b in zip(*per_image)])
    assert torch.equal(ct.net.model[1].running_mean, before) and not ct.net.model[1].training


@pytest.mark.parametrize("opacus", [False, True])
def test_per_example_gradients_are_the_per_image_gradients(opacus):
    if opacus and client_module._opacus() is None:
        pytest.skip("opacus is not installed (pip install preimage[gradients])")
    x, y = _batch(3)
    c = Client(_tiny())
    per = PerExample(c.net, c.names, prefer_opacus=opacus)
    assert ("opacus" in per.backend) == opacus
    got = per(c.params, x, y)
    for i in range(3):
        assert _close([g[i] for g in got], c.gradient(x[i:i + 1], y[i:i + 1]))
    # at other parameters than the network's (a local step further), the network itself untouched
    moved = [p.detach() + 0.01 for p in c.params]
    got = per(moved, x, y)
    assert _close([g[1] for g in got], c.gradient(x[1:2], y[1:2], [m.clone().requires_grad_() for m in moved]))
    assert all(p.grad is None for p in c.params)


def test_local_steps_share_the_weight_difference_and_the_attacker_differentiates_it():
    x, y = _batch(2)
    c = Client(_tiny(), local_steps=3, local_lr=0.1)
    theta = [p.detach().clone() for p in c.params]
    for _ in range(3):
        g = c.gradient(x, y, [t.requires_grad_() for t in theta])
        theta = [(t - 0.1 * gi).detach() for t, gi in zip(theta, g)]
    assert _close(c.shared(x, y), [t - p.detach() for t, p in zip(theta, c.params)])
    u = x.clone().requires_grad_()
    d = sum(s.pow(2).sum() for s in c.shared(u, y, create_graph=True))
    gx, = torch.autograd.grad(d, u)
    assert gx.abs().sum() > 0  # the double backward reaches the images through three steps


def test_a_model_with_no_parameters_is_refused():
    with pytest.raises(ConfigError, match="no trainable parameters"):
        Client(ModelInfo(nn.Flatten(), "flat", input_size=16))


# ---------------------------------------------------------------- labels
@pytest.mark.parametrize("steps", [1, 3])
def test_label_recovery_is_exact_at_batch_size_one(steps):
    c = Client(_tiny(), local_steps=steps, local_lr=0.05)
    x, _ = _batch(10, seed=1)
    for k in range(10):  # every class, each on another image
        y = torch.tensor([k])
        assert recover_labels(c.shared(x[k:k + 1], y), c, 1) == [k]


def test_label_recovery_on_a_relu_net_and_the_count_rule():
    c = Client(_tiny(act=nn.ReLU, seed=3))
    x, _ = _batch(10, seed=2)
    assert [recover_labels(c.shared(x[k:k + 1], torch.tensor([k])), c, 1)[0] for k in range(10)] == list(range(10))
    # a batch with a repeated label: present classes from the rows' negative entries, the repeat by magnitude
    rows = torch.tensor([[0.1, 0.2], [-0.5, 0.1], [0.3, 0.0], [-0.2, -0.1]])
    v = torch.tensor([0.4, -0.9, 0.2, -0.3])
    assert count_rule(rows, v, 3) == [1, 1, 3]
    assert count_rule(rows, v, 1) == [1]
    assert label_hits([1, 1, 3], [3, 1, 2]) == 2


# ---------------------------------------------------------------- defenses
def test_a_zero_strength_defense_is_the_identity():
    c = Client(_tiny())
    x, y = _batch(4)
    g = c.shared(x, y)
    gen = torch.Generator().manual_seed(0)
    for d in parse_defenses("noise:0|prune:0"):
        assert all(torch.equal(a, b) for a, b in zip(d.perturb(g, gen), g))
    assert _close(Defense("quantize", 32).perturb(g, gen), g, 1e-6)
    per = PerExample(c.net, c.names)(c.params, x, y)
    assert _close(parse_defenses("dpsgd:inf/0")[0].privatize(per, gen), g)


def test_defenses_do_what_they_say():
    g = [torch.randn(40, 30), torch.randn(40)]
    gen = torch.Generator().manual_seed(0)
    pruned = Defense("prune", 0.9).perturb(g, gen)
    assert [int((p == 0).sum()) for p in pruned] == [1080, 36]
    assert all(torch.equal(p[p != 0], a[p != 0]) for p, a in zip(pruned, g))  # the largest kept as they were
    q = Defense("quantize", 2).perturb(g, gen)
    assert all(len(torch.unique(t)) <= 3 for t in q)
    noisy = Defense("noise", 0.5).perturb(g, gen)
    rms = math.sqrt(sum(float(a.pow(2).sum()) for a in g) / 1240)
    added = torch.cat([(n - a).flatten() for n, a in zip(noisy, g)])
    assert abs(float(added.std()) / rms - 0.5) < 0.05
    per = [torch.randn(5, 40, 30) * 10, torch.randn(5, 40)]
    clipped = Defense("dpsgd", 0.0, 1.0).privatize(per, gen)
    assert math.sqrt(sum(float(t.pow(2).sum()) for t in clipped)) <= 1.0 + 1e-6  # each example clipped to 1, mean


@pytest.mark.parametrize("text,msg", [("blur:3", "unknown defense 'blur'"), ("prune:1", "[0, 1)"),
                                      ("dpsgd:1,0.1", "CLIP/SIGMA"), ("quantize:0", "bits"), ("noise", "needs strengths")])
def test_bad_defenses_are_refused(text, msg):
    with pytest.raises(ConfigError, match=msg.replace("[", r"\[").replace(")", r"\)")):
        parse_defenses(text)


def test_parse_defenses_spellings():
    ds = parse_defenses("quantise:4|dpsgd:1/0.1,2/0")
    assert [d.label for d in ds] == ["4-bit", "DP-SGD C=1 s=0.1", "DP-SGD C=2 s=0"]
    assert [d.key for d in ds] == ["quantize-4", "dpsgd-1-0.1", "dpsgd-2-0"]


# ---------------------------------------------------------------- measures
def test_matching_undoes_a_permutation_and_gray_is_chance():
    x, _ = _batch(5)
    perm = torch.tensor([3, 0, 4, 1, 2])
    order = match(x[perm] + 0.01, x)
    assert torch.equal(x[perm][order], x[perm][order]) and [int(perm[o]) for o in order] == [0, 1, 2, 3, 4]
    reid = Reidentify(x)
    assert torch.all(reid(x, torch.arange(5))["top1"] == 1)
    gray = reid(torch.full_like(x, 0.5), torch.arange(5))
    assert float(gray["top1"].mean()) == pytest.approx(1 / 5) and float(gray["rank"].mean()) == pytest.approx(3)


# ---------------------------------------------------------------- the attacks
def test_the_attacks_match_the_update_they_are_given():
    info = ModelInfo(LeNetZhu(10, channels=4, size=16), "lenet-small", (0.5,) * 3, (0.25,) * 3, 16, classes=CLASSES)
    c = Client(info)
    x, y = _batch(1, seed=4)
    target = c.shared(x, y)
    labels = torch.tensor(recover_labels(target, c, 1))
    assert labels.tolist() == y.tolist()
    ig = attack(c, target, labels, [0], 16, AttackSettings("ig", iters=40), seed=0)
    start = attack(c, target, labels, [0], 16, AttackSettings("ig", iters=1), seed=0)
    assert ig.loss < start.loss and ig.images.min() >= 0 and ig.images.max() <= 1 and ig.iterations == 40
    again = attack(c, target, labels, [0], 16, AttackSettings("ig", iters=40), seed=0)
    assert torch.equal(ig.images, again.images)  # restarts are keyed: the same seed, the same result
    d = attack(c, target, None, [0], 16, AttackSettings("dlg", iters=20, labels="optimize"), seed=0, classes=10)
    assert d.soft is not None and d.soft.shape == (1, 10) and math.isfinite(d.loss)


class _Functional(nn.Module):
    """ReLU and pooling called as functions in ``forward`` (as cifar-resnet does)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(F.max_pool2d(F.relu(self.conv(x)), 2).flatten(1))


def test_functional_relu_nets_and_batchnorm_in_train_mode_are_attacked():
    torch.manual_seed(0)
    c = Client(ModelInfo(_Functional(), "functional", (0.5,) * 3, (0.25,) * 3, 16, classes=CLASSES))
    x, y = _batch(1, seed=5)
    target = c.shared(x, y)
    a = attack(c, target, torch.tensor(recover_labels(target, c, 1)), [0], 16, AttackSettings("ig", iters=20))
    b = attack(c, target, y, [0], 16, AttackSettings("ig", iters=1))
    assert a.loss < b.loss  # the double backward goes through F.relu and max-pooling
    ct = Client(_tiny(bn=True), bn="train")
    x, y = _batch(2, seed=6)
    a = attack(ct, ct.shared(x, y), y, [0, 1], 16, AttackSettings("ig", iters=3))
    assert math.isfinite(a.loss) and not ct.net.model[1].training
    with pytest.raises(ConfigError, match="BatchNorm in train mode"):
        PerExample(ct.net, ct.names, "train")


def test_lenet_zhu_in_the_zoo():
    a, b = load_model("lenet-zhu", seed=3), load_model("lenet-zhu", seed=3)
    w = a.module.fc.weight.detach()
    assert torch.equal(w, b.module.fc.weight) and float(w.abs().max()) <= 0.5 and a.classes == CLASSES
    assert a.module(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert not torch.equal(w, load_model("lenet-zhu", seed=4).module.fc.weight)
    assert any(isinstance(m, nn.Sigmoid) for m in a.module.modules())


# ---------------------------------------------------------------- the command
def _private(tmp_path: Path, per_class: int = 2, classes=("cat", "ship")) -> Path:
    root = tmp_path / "private"
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    for c, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for k in range(per_class):
            base = np.stack([xx, yy, (xx + yy) / 2], -1)[..., [(c + k) % 3, (c + k + 1) % 3, (c + k + 2) % 3]]
            img = np.clip(base + 0.15 * rng.standard_normal((32, 32, 3)), 0, 1)
            Image.fromarray((img * 255).astype(np.uint8)).save(root / cls / f"{k}.png")
    return root


def _factories(tmp_path: Path) -> Path:
    f = tmp_path / "nets.py"
    f.write_text("from torch import nn\n\ndef flat():\n    return nn.Flatten()\n")
    return f


def test_command_end_to_end(tmp_path):
    priv = _private(tmp_path)
    out = tmp_path / "gl"
    assert main(["gradient-leakage", "--model", "lenet-zhu", "--private", str(priv), "--n", "4", "--batch-size", "2",
                 "--iters", "4", "--defense", "prune:0.9|dpsgd:1/0.1", "--public", str(priv), "--utility-steps", "2",
                 "--utility-train", "2", "--utility-test", "2", "--quiet", "--out", str(out)]) == 0
    r = json.loads((out / "gradient_leakage.json").read_text())
    assert r["model"] == "lenet-zhu" and r["n"] == 4 and r["batch_size"] == 2 and r["batches"] == 2
    assert [v["key"] for v in r["variants"]] == ["none", "prune-0.9", "dpsgd-1-0.1"]
    base = r["variants"][0]
    assert base["label_rate"] == 1.0 and len(base["images"]) == 4
    assert r["client"]["bn"] == "eval" and r["client"]["has_batchnorm"] is False and r["client"]["per_example"]
    assert all(v["utility"] is not None for v in r["variants"]) and r["utility"]["steps"] == 2
    assert 0 < r["floor"]["reid_top1"] == pytest.approx(1 / 4)
    for name in ("gradient_leakage.html", "gradient_leakage.png", "gradient_leakage_tradeoff.png"):
        assert (out / name).stat().st_size > 1000
    assert len(list((out / "reconstructions" / "prune-0.9").glob("*.png"))) == 4
    # the same run again into the same folder is refused without --force, and replaces it with
    assert main(["gradient-leakage", "--model", "lenet-zhu", "--private", str(priv), "--n", "2", "--iters", "2",
                 "--attack", "dlg", "--labels", "optimize", "--local-steps", "2", "--quiet", "--force",
                 "--out", str(out)]) == 0
    r = json.loads((out / "gradient_leakage.json").read_text())
    assert r["attack"]["method"] == "dlg" and r["client"]["local_steps"] == 2 and r["utility"] is None
    assert not list((out / "reconstructions" / "prune-0.9").glob("*.png"))  # the earlier run's files are gone


@pytest.mark.parametrize("args,msg", [
    (["--model", "NETS:flat"], "no trainable parameters"),
    (["--batch-size", "5"], "--batch-size 5 is larger than the 4 private images"),
    (["--defense", "blur:3"], "unknown defense 'blur'"),
    (["--defense", "dpsgd:1,0.1"], "CLIP/SIGMA"),
    (["--labels", "optimize"], "use --attack dlg"),
    (["--private", "OTHER"], "not among lenet-zhu's classes"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, msg):
    priv = _private(tmp_path)
    other = _private(tmp_path / "o", 1, ("cats", "ship"))
    nets = _factories(tmp_path)
    args = [a.replace("NETS", str(nets)).replace("OTHER", str(other)) for a in args]
    out = tmp_path / "gl"
    base = ["gradient-leakage", "--model", "lenet-zhu", "--private", str(priv), "--iters", "2", "--quiet"]
    assert main(base + args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["nets.py", "o", "private"]


def test_a_model_without_class_names_takes_the_folders_in_order(tmp_path):
    priv = _private(tmp_path)
    info = _tiny()
    info.classes = None
    info.input_size = 16
    r = run_gradient_leakage(info, str(priv), n=4, settings=AttackSettings("ig", iters=2), show=False, log=lambda m: None)
    assert r.record["client"]["labels"].startswith("class folders in sorted order")
    assert [row["label"] for row in r.record["variants"][0]["images"]] == [0, 0, 1, 1]
    assert r.record["variants"][0]["label_rate"] == 1.0


@pytest.mark.skipif(not (DATA / "cifar10" / "test" / "bird" / "0500.jpg").is_file(), reason="../shared/data is absent")
def test_inverting_gradients_beats_the_gray_floor_on_a_cifar_image(tmp_path):
    (tmp_path / "bird").mkdir()
    (tmp_path / "bird" / "0500.jpg").write_bytes((DATA / "cifar10" / "test" / "bird" / "0500.jpg").read_bytes())
    info = load_model("lenet-zhu", seed=0)
    r = run_gradient_leakage(info, str(tmp_path), n=1, settings=AttackSettings("ig", iters=300), show=False,
                             log=lambda m: None)
    assert r.record["variants"][0]["psnr"] > r.record["floor"]["psnr"] + 1
    assert r.record["variants"][0]["label_rate"] == 1.0


def test_gradient_leakage_page_in_a_browser(tmp_path):
    b = find_browser()
    if b is None:
        if os.environ.get("PREIMAGE_REQUIRE_BROWSER") == "1":
            pytest.fail("PREIMAGE_REQUIRE_BROWSER=1 but no Chromium is installed")
        pytest.skip("no Chromium installed (apt-get install chromium); .ci/run installs it")
    priv = _private(tmp_path)
    out = tmp_path / "gl"
    assert main(["gradient-leakage", "--model", "lenet-zhu", "--private", str(priv), "--n", "4", "--iters", "3",
                 "--defense", "noise:1|prune:0.9|quantize:2|dpsgd:1/1", "--public", str(priv), "--utility-steps", "2",
                 "--utility-train", "2", "--utility-test", "2", "--quiet", "--out", str(out)]) == 0
    findings = check_page(out / "gradient_leakage.html", (1280, 800), browser=b)
    assert problems(findings) == [] and len(findings[800]["images"]) >= 2
