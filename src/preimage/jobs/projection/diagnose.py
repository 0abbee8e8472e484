"""Dead-filter diagnostics: over a folder of images, per layer and channel, how often the channel
is active at all (its output > 0 somewhere in the map), its mean, minimum and maximum. One
streaming pass, every layer at once, each output reduced the moment its module returns it (before
any later in-place operation, such as ``nn.ReLU(inplace=True)``, can change it): memory does not
grow with the folder.

**Which layers get a verdict.** "Never above zero" means "no signal" only where zero is the floor:
after a rectifier. A layer is *judged* only if its output is never negative over the images seen
(a ReLU, a max-pool or average of rectified maps, a residual block ending in ``F.relu``); there a
channel never active is **dead** and one active on fewer than ``rare_below`` of the images **rare**.
A layer whose output goes negative - a convolution before its BatchNorm and ReLU, a BatchNorm, an
fc layer before its ReLU, logits - has its statistics reported but no verdict: a channel of it that
is never positive can still carry signal (its sign is information, and a BatchNorm can shift it up),
so look at the layer after its non-linearity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from ...backward.project import project_one
from ...errors import LayerError
from ...hooks import StopForward, device_of, eval_mode, first_tensor, forward_hooks, resolve_module
from ...models.loading import ModelInfo
from ...representations.cnn import CNNLayer
from ...results import Shown
from ...streams import reduce_maps

RULE = ("A layer is judged only if its output is rectified: never negative over the images seen (after a "
        "ReLU or a pooling of rectified maps). There a channel never above zero is dead and one above zero "
        "on fewer than rare_below of the images is rare. A layer whose output goes negative (a convolution "
        "or BatchNorm before its ReLU, an fc layer before its ReLU, logits) gets its statistics but no verdict.")
NOT_JUDGED = ("not judged: its output can be negative (minimum {low:.3g} over the images seen), so not being "
              "above zero does not mean carrying nothing; see the layer after its non-linearity")


def addressable_layers(info: ModelInfo) -> List[str]:
    """A model's layers worth a row: its aliases (conv, bn, relu, pool, fc, stage, block, logits
    ...), else every named module - containers and blocks too, not only leaves, so that a block
    whose ``forward`` ends in ``F.relu`` (a residual block) is seen after its non-linearity. Those
    whose output is not a 2-D or 4-D tensor are dropped during the pass."""
    if info.aliases:
        return list(info.aliases)
    return [n for n, _ in info.module.named_modules() if n]


@dataclass
class LayerStats:
    channels: int
    active_fraction: List[float]
    mean: List[float]
    max: List[float]
    min: List[float] = field(default_factory=list)
    judged: bool = True                   # rectified: never negative over the images seen
    dead: List[int] = field(default_factory=list)
    rare: List[int] = field(default_factory=list)

    @property
    def low(self) -> float:
        """The layer's smallest output over the images seen."""
        return min(self.min) if self.min else 0.0

    @property
    def why(self) -> str:
        return "" if self.judged else NOT_JUDGED.format(low=self.low)


@dataclass(repr=False)
class Diagnosis(Shown):
    """Channel activity per layer (a :class:`~preimage.results.Result`, recorded as ``diagnose.json``;
    the report writes ``diagnose.html``)."""

    command = "diagnose"
    record_name = "diagnose.json"

    model: str
    images: int
    layers: Dict[str, LayerStats]
    rare_below: float
    blank: Dict[str, Tuple[List[int], List[torch.Tensor]]] = field(default_factory=dict)  # layer -> (dead channels, projections)

    @property
    def rare_possible(self) -> bool:
        """Whether one image in ``images`` is a fraction under ``rare_below``: with fewer than
        1 / rare_below images a channel active at all is active on at least rare_below of them."""
        return self.images > 0 and 1.0 / self.images < self.rare_below

    def rare_note(self) -> str:
        if self.rare_possible:
            return ""
        return (f"rare cannot occur: over {self.images} images a channel active on even one image is active on "
                f"{100 / max(self.images, 1):.3g}% of them, not under {100 * self.rare_below:g}%; "
                f"it takes more than {1 / self.rare_below:g} images")

    def to_json(self) -> Dict:
        def layer(v: LayerStats) -> Dict:
            # an unjudged layer has no "dead" / "rare" keys at all: no verdict, rather than an empty one
            verdict = ({"judged": True, "dead": v.dead, "rare": v.rare} if v.judged
                       else {"judged": False, "why": v.why})
            return {"channels": v.channels, **verdict, "min_output": v.low, "active_fraction": v.active_fraction,
                    "mean": v.mean, "max": v.max, "min": v.min}
        return {"model": self.model, "images": self.images, "rare_below": self.rare_below,
                "rare_possible": self.rare_possible, **({"rare_note": self.rare_note()} if not self.rare_possible else {}),
                "rule": RULE, "layers": {k: layer(v) for k, v in self.layers.items()}}

    def files(self) -> Dict[str, bytes]:
        return {}

    def lines(self) -> List[str]:
        out = [f"{k:<14} {v.channels:>5} channels  {len(v.dead):>4} dead  {len(v.rare):>4} rare" if v.judged else
               f"{k:<14} {v.channels:>5} channels  not judged (output goes negative, min {v.low:.3g})"
               for k, v in self.layers.items()]
        return out + ([self.rare_note()] if not self.rare_possible else [])


class _Stats:
    """Running per-channel sums for one layer: images where active, sum of means, max, min."""

    def __init__(self) -> None:
        self.count: Optional[torch.Tensor] = None
        self.total: Optional[torch.Tensor] = None
        self.peak: Optional[torch.Tensor] = None
        self.low: Optional[torch.Tensor] = None

    def add(self, fmax: torch.Tensor, fmean: torch.Tensor, fmin: torch.Tensor) -> None:
        """One batch: (B, C) per-image maxima and means, (C,) minima."""
        active = (fmax > 0).sum(0)
        if self.count is None:
            self.count, self.total, self.peak, self.low = active, fmean.double().sum(0), fmax.amax(0), fmin
            return
        assert self.total is not None and self.peak is not None and self.low is not None
        self.count = self.count + active
        self.total = self.total + fmean.double().sum(0)
        self.peak = torch.maximum(self.peak, fmax.amax(0))
        self.low = torch.minimum(self.low, fmin)


@torch.no_grad()
def diagnose(info: ModelInfo, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]],
             layers: Optional[Sequence[str]] = None, rare_below: float = 0.01,
             first_image: Optional[torch.Tensor] = None) -> Diagnosis:
    """Channel activity of ``info``'s layers over ``batches`` of [0, 1] images (an iterable of
    ``(indices, images)``, e.g. :func:`preimage.data.stream_folder`). Dead and rare channels are
    named only in rectified layers (see the module's docstring); ``first_image`` adds the DeconvNet
    projections of dead channels."""
    asked = list(layers) if layers else None
    layers = asked or addressable_layers(info)
    model = info.module
    dev = device_of(model)
    mean = torch.tensor(info.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(info.std, device=dev).view(1, 3, 1, 1)
    targets = [(k, resolve_module(model, k, info.aliases)[1]) for k in layers]
    acc: Dict[str, _Stats] = {}
    batch: Dict[str, List] = {}           # this forward pass's reductions: max, sum of means, min, calls
    ran: set = set()
    ever: set = set()
    need = len({k for k, _ in targets})

    def hook_for(key: str):
        def hook(mod, inp, out):
            ran.add(key)
            f = first_tensor(out)
            if f is not None and f.dim() in (2, 4) and f.shape[0] > 0:
                fmax, _, fmean, fmin = reduce_maps(f)
                old = batch.get(key)
                if old is not None and old[0].shape == fmax.shape:
                    # a module run several times in one pass: its calls count together
                    batch[key] = [torch.maximum(old[0], fmax), old[1] + fmean, torch.minimum(old[2], fmin), old[3] + 1]
                else:
                    batch[key] = [fmax, fmean, fmin, 1]
            if len(ran) == need:
                raise StopForward
        return hook

    n = 0
    with eval_mode(model), forward_hooks([(m, hook_for(k)) for k, m in targets]):
        for _, x in batches:
            x = x.to(dev)
            batch.clear()
            ran.clear()
            try:
                model((x - mean) / std)
            except StopForward:
                pass
            ever.update(ran)
            for k, (fmax, fsum, fmin, calls) in batch.items():
                acc.setdefault(k, _Stats()).add(fmax, fsum / calls, fmin)
            n += len(x)
    if asked and n:
        missing = [k for k in asked if k not in ever]
        if missing:
            raise LayerError(f"layer(s) {', '.join(missing)} did not run in the model's forward pass")
    stats = {}
    for k in layers:
        a = acc.get(k)
        if a is None or a.count is None:
            continue
        assert a.total is not None and a.peak is not None and a.low is not None
        frac = [int(c) / n for c in a.count.tolist()]
        st = LayerStats(len(frac), frac, [float(v) / n for v in a.total.tolist()], [float(v) for v in a.peak.tolist()],
                        [float(v) for v in a.low.tolist()])
        st.judged = min(st.min) >= 0
        if st.judged:
            st.dead = [i for i, v in enumerate(frac) if v == 0]
            st.rare = [i for i, v in enumerate(frac) if 0 < v < rare_below]
        stats[k] = st
    diag = Diagnosis(info.name, n, stats, rare_below)
    if first_image is not None:
        diag.blank = _blank_projections(info, stats, first_image)
    return diag


def _blank_projections(info: ModelInfo, stats: Dict[str, LayerStats], x: torch.Tensor,
                       per_layer: int = 8) -> Dict[str, Tuple[List[int], List[torch.Tensor]]]:
    """Per judged layer with dead channels: the first ``per_layer`` of them and their DeconvNet
    projections of ``x``."""
    out = {}
    for k, st in stats.items():
        if not st.dead:
            continue
        rep = CNNLayer.from_info(info, k, x.shape[-1])
        chans = st.dead[:per_layer]
        pics = []
        for c in chans:
            with torch.enable_grad():
                p, _, _ = project_one(rep, x, c, "deconvnet")
            pics.append(p)
        out[k] = (chans, pics)
    return out
