"""Measures of naturalness for feature visualizations (issue 26), judged by an independent network.

Both read a *judge*: another classifier (a :class:`~preimage.models.classifier.Classifier`, its
normalization inside), whose penultimate features - the input of its last linear layer
(:func:`penultimate`) - serve as the similarity space; cosine similarity throughout.

* :func:`plausibility` (MACO's plausibility, Fel et al. 2023): is a class visualization nearest to
  natural images of its own class? Per visualization, the fraction of its ``k`` nearest labelled
  natural images that share its class, and whether the single nearest does (1-NN).
* :func:`interpretability` (in the manner of the Machine Interpretability Score, Zimmermann et al.
  2024): for a unit, its ``queries`` most- and least-activating natural images; a trial pairs one
  of each, drawn from :func:`preimage.keys.keyed`; the similarity model picks the query whose mean
  similarity to the unit's visualization(s) is larger. Score: the fraction of trials where it picks
  the most-activating one (ties count half; chance 0.5) and the mean probability of the right pick,
  ``sigmoid((s_top - s_bottom) / temperature)``.

Pure functions of images and features: the job (``jobs.natural``) chooses the folder, the units'
activations and the judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError
from .hooks import eval_mode, forward_hooks
from .keys import keyed

#: nearest natural images looked at by :func:`plausibility`
K = 10
#: most- and least-activating natural images per unit (:func:`interpretability`)
QUERIES = 10
#: 2-alternative trials per unit
TRIALS = 50
#: the softness of a trial's pick, in cosine-similarity units (ours, not calibrated to human choices)
TEMPERATURE = 0.05


def last_linear(model: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of ``model`` in module order (a classifier's logits)."""
    found: Optional[nn.Linear] = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            found = m
    if found is None:
        raise ConfigError(f"the judge {type(model).__name__} has no linear layer: its penultimate features "
                          "(the input of its last linear layer) are the similarity space")
    return found


@torch.no_grad()
def penultimate(judge: nn.Module, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """(N, D) the judge's penultimate features of (N, 3, H, W) images in [0, 1]: the input of its
    last linear layer, flattened, in eval mode. ``judge`` takes [0, 1] images (a ``Classifier``)."""
    layer = last_linear(judge)
    device = next(judge.parameters()).device
    got: List[torch.Tensor] = []

    def hook(mod, inp, out):
        got.append(inp[0].detach().flatten(1).float().cpu())

    out = []
    with eval_mode(judge), forward_hooks([(layer, hook)]):
        for i in range(0, len(images), batch):
            got.clear()
            judge(images[i:i + batch].to(device))
            out.append(got[-1])
    if not out:
        return torch.zeros((0, layer.in_features))
    return torch.cat(out)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.normalize(a.float(), dim=-1) @ F.normalize(b.float(), dim=-1).transpose(-1, -2)


@dataclass
class Plausibility:
    """Per visualization: ``same_class`` (the fraction of its ``k`` nearest natural images of its
    class), ``nearest`` (whether the nearest is), ``chance`` (its class's share of the natural images)."""

    k: int
    same_class: torch.Tensor
    nearest: torch.Tensor
    chance: torch.Tensor

    def record(self) -> Dict:
        return {"k": self.k, "same_class_of_k_nearest": float(self.same_class.mean()),
                "nearest_neighbour_accuracy": float(self.nearest.float().mean()), "chance": float(self.chance.mean()),
                "per_image": [round(float(v), 4) for v in self.same_class]}


def plausibility(features: torch.Tensor, labels: torch.Tensor, natural: torch.Tensor, natural_labels: torch.Tensor,
                 k: int = K) -> Plausibility:
    """Visualizations' judge ``features`` (V, D) of classes ``labels`` (V,) against labelled natural
    images' ``natural`` (N, D), ``natural_labels`` (N,): cosine nearest neighbours."""
    if len(natural) < 1:
        raise ConfigError("plausibility needs labelled natural images")
    k = min(int(k), len(natural))
    if k < 1:
        raise ConfigError(f"plausibility needs k >= 1, got {k}")
    sim = _cosine(features, natural)                                  # (V, N)
    idx = sim.topk(k, dim=1).indices
    hit = natural_labels.long()[idx] == labels.long().view(-1, 1)
    chance = (natural_labels.long().view(1, -1) == labels.long().view(-1, 1)).float().mean(1)
    return Plausibility(k, hit.float().mean(1), hit[:, 0], chance)


def extremes(activations: torch.Tensor, queries: int = QUERIES) -> tuple[torch.Tensor, torch.Tensor]:
    """Per unit, the indices of its ``queries`` most- and least-activating images: ``activations``
    (N, U) -> (U, q), (U, q). Ties are broken by index (lowest first), so the choice is deterministic."""
    n = activations.shape[0]
    if n < 2 * queries:
        raise ConfigError(f"the interpretability score needs at least {2 * queries} natural images "
                          f"({queries} most- and {queries} least-activating per unit); got {n}")
    a = activations.double().t()                                       # (U, N)
    order = torch.argsort(-a, dim=1, stable=True)
    low = torch.argsort(a, dim=1, stable=True)
    return order[:, :queries], low[:, :queries]


@dataclass
class Interpretability:
    """Per unit: ``accuracy`` (fraction of 2-alternative trials won by the most-activating query; ties
    half), ``probability`` (the mean probability of that pick)."""

    units: List[int]
    accuracy: torch.Tensor
    probability: torch.Tensor
    queries: int
    trials: int
    temperature: float

    def record(self) -> Dict:
        return {"queries": self.queries, "trials_per_unit": self.trials, "temperature": self.temperature,
                "accuracy": float(self.accuracy.mean()), "probability": float(self.probability.mean()), "chance": 0.5,
                "per_unit": {str(u): round(float(a), 4) for u, a in zip(self.units, self.accuracy)}}


def interpretability(features: torch.Tensor, natural: torch.Tensor, activations: torch.Tensor, units: Sequence[int],
                     queries: int = QUERIES, trials: int = TRIALS, seed: int = 0,
                     temperature: float = TEMPERATURE) -> Interpretability:
    """The MIS-style score of U units. ``features`` (U, S, D): the judge's features of each unit's S
    visualizations; ``natural`` (N, D): of the natural images; ``activations`` (N, U): each unit's
    activation on them (the network visualized). Unit ``units[u]``'s trials come from
    ``keyed(seed, "interpretability", units[u])`` alone (not from its companions)."""
    if features.dim() != 3 or features.shape[0] != len(units) or activations.shape[1] != len(units):
        raise ConfigError(f"features {tuple(features.shape)} and activations {tuple(activations.shape)} "
                          f"do not match {len(units)} units")
    if not temperature > 0:
        raise ConfigError(f"temperature must be positive, got {temperature}")
    top, bottom = extremes(activations, queries)
    # mean similarity of each natural image to each unit's visualizations: (U, N)
    sim = _cosine(features, natural).mean(1)          # (U, S, D) @ (D, N): each natural image normalized once
    acc, prob = [], []
    for i, u in enumerate(units):
        g = keyed(seed, "interpretability", int(u))
        a = torch.randint(queries, (trials,), generator=g)
        b = torch.randint(queries, (trials,), generator=g)
        d = sim[i, top[i, a]] - sim[i, bottom[i, b]]
        acc.append(((d > 0).double() + 0.5 * (d == 0).double()).mean())
        prob.append(torch.sigmoid(d.double() / temperature).mean())
    return Interpretability(list(map(int, units)), torch.stack(acc).float(), torch.stack(prob).float(),
                            int(queries), int(trials), float(temperature))
