"""What a defense costs: the accuracy a small model reaches when every training step's update goes
through the defense, against the same training without it.

The model (:class:`SmallNet`: two 3x3 convolutions of 16 and 32 channels, each with ReLU and 2x2
max-pooling, average-pooled to 4x4, one linear layer) is trained from one initialization drawn from
the seed, on the same batches (drawn from the seed and the step) for every defense, for a fixed
small budget (``steps`` SGD steps of ``batch`` images, momentum 0.9), on public images at 32 px,
and tested on other public images: so two defenses differ only by what they do to the updates.
noise, prune and quantize change each step's mean gradient; dpsgd computes it from clipped
per-example gradients plus noise (:class:`~preimage.jobs.gradients.client.PerExample`).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ... import progress
from ...data import center_crops, class_indices, list_items
from ...errors import ConfigError
from ...keys import keyed
from .client import PerExample
from .defenses import Defense


class SmallNet(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.AdaptiveAvgPool2d(4))
        self.fc = nn.Linear(32 * 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x - 0.5).flatten(1))


@dataclass(frozen=True)
class UtilitySettings:
    steps: int = 300
    batch: int = 32
    lr: float = 0.05
    train: int = 5000
    test: int = 1000
    size: int = 32

    def check(self) -> "UtilitySettings":
        for name in ("steps", "batch", "train", "test", "size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"utility {name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"utility learning rate must be positive, got {self.lr}")
        return self

    def to_json(self) -> dict:
        return {**asdict(self), "model": "SmallNet: conv3x3 16 + ReLU + maxpool, conv3x3 32 + ReLU + maxpool, "
                "avg-pool 4x4, linear", "optimizer": "SGD, momentum 0.9, constant lr", "image_size": self.size}


@dataclass
class PublicData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: List[str]
    folder: str


def load_public(public: str, s: UtilitySettings, workers: int = 0) -> PublicData:
    """``s.train + s.test`` images of ``public`` (class folders), evenly spaced; every sixth-or-so to the test set."""
    items = list_items(public)
    classes = list(items.label_names)
    if len(classes) < 2:
        raise ConfigError(f"--public {public}: the utility of a defense is measured by training a classifier, which "
                          f"needs images in class folders (root/<class>/...); found {len(classes)} class(es)")
    total = s.train + s.test
    if len(items) < total:
        raise ConfigError(f"--public {public} has {len(items)} images; the utility budget needs {total} "
                          f"({s.train} to train, {s.test} to test)")
    items = items.evenly_spaced(total)
    y = class_indices(items, classes)
    assert y is not None
    test = torch.zeros(total, dtype=torch.bool)
    test[torch.linspace(0, total - 1, s.test).round().long()] = True
    x = center_crops(items, s.size, workers=workers)
    return PublicData(x[~test], y[~test], x[test], y[test], classes, public)


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        pred = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return float((pred == y).float().mean())


def train_with(defense: Defense, data: PublicData, s: UtilitySettings, seed: int = 0, init: Optional[nn.Module] = None,
               tick=lambda n: None) -> Tuple[float, str]:
    """Test accuracy after training under ``defense`` (and how per-example gradients were computed)."""
    if init is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            init = SmallNet(len(data.classes))
    net = copy.deepcopy(init).train()
    names = [n for n, _ in net.named_parameters()]
    params = [p for _, p in net.named_parameters()]
    per = PerExample(net, names) if defense.kind == "dpsgd" else None
    opt = torch.optim.SGD(params, lr=s.lr, momentum=0.9)
    n = len(data.train_x)
    for step in range(s.steps):
        idx = torch.randint(n, (s.batch,), generator=keyed(seed, "utility-batch", step))
        x, y = data.train_x[idx], data.train_y[idx]
        gen = keyed(seed, "utility-defense", defense.key, step)
        if per is not None:
            g = defense.privatize(per(params, x, y), gen)
        else:
            g = list(torch.autograd.grad(F.cross_entropy(net(x), y), params))
            g = defense.perturb(g, gen)
        for p, gi in zip(params, g):
            p.grad = gi.detach()
        opt.step()
        tick(1)
    net.eval()
    return accuracy(net, data.test_x, data.test_y), (per.backend if per is not None else "")


def utilities(defenses: Sequence[Defense], data: PublicData, s: UtilitySettings, seed: int = 0,
              show: Optional[bool] = None) -> Dict[str, Dict]:
    """Defense key -> {accuracy, seconds, per_example} for each defense (the first usually ``none``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init = SmallNet(len(data.classes))
    out: Dict[str, Dict] = {}
    bar = progress.bar(total=s.steps * len(defenses), desc=f"utility: training {len(defenses)} small models", show=show,
                       unit="step")
    for d in defenses:
        t0 = time.perf_counter()
        acc, backend = train_with(d, data, s, seed, init, bar.update)
        out[d.key] = {"accuracy": acc, "seconds": time.perf_counter() - t0, **({"per_example": backend} if backend else {})}
    bar.close()
    return out
