"""The atlas's one pass over the data: for every requested layer at once, per channel the top-k and
bottom-k images (by the channel's strongest value in the image), an exact histogram of those values,
how often it is active, its smallest output, and its correlation with each class's logit - all kept
as streams (:mod:`preimage.streams`), so memory does not grow with the folder, and merged exactly
across torchrun ranks.

Each layer's output is reduced inside its module's forward hook, before any later in-place
operation (``nn.ReLU(inplace=True)``) changes it; a module that runs several times in one pass
(a shared block) counts its calls together, taking the largest value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ...data import Items, Stream, class_indices
from ...errors import LayerError
from ...hooks import device_of, eval_mode, first_tensor, forward_hooks, resolve_module
from ...models.loading import ModelInfo
from ...streams import Histogram, Moments, Ranked, reduce_maps


@dataclass
class LayerStream:
    """What one pass keeps of one layer (every channel)."""

    shape: Tuple[int, ...]          # (C, H, W) or (C,)
    top: Ranked
    bottom: Ranked
    hist: Histogram
    moments: Moments                # per channel x = its strongest value in the image; y = the logits
    active: torch.Tensor            # (C,) images where the channel is above zero somewhere
    low: torch.Tensor               # (C,) the smallest output anywhere

    @classmethod
    def empty(cls, shape: Tuple[int, ...], k: int, outputs: int) -> "LayerStream":
        c = int(shape[0])
        return cls(tuple(shape), Ranked(c, k, True), Ranked(c, k, False), Histogram(c), Moments(c, outputs),
                   torch.zeros(c, dtype=torch.long), torch.full((c,), float("inf")))

    def add(self, v: torch.Tensor, place: torch.Tensor, low: torch.Tensor, index: torch.Tensor,
            logits: Optional[torch.Tensor]) -> None:
        self.top.add(v, index, place)
        self.bottom.add(v, index, place)
        self.hist.add(v)
        self.moments.add(v, logits)
        self.active += (v > 0).sum(0).cpu()
        self.low = torch.minimum(self.low, low.cpu())

    def merge(self, other: "LayerStream") -> None:
        self.top.merge(other.top)
        self.bottom.merge(other.bottom)
        self.hist.merge(other.hist)
        self.moments.merge(other.moments)
        self.active = self.active + other.active
        self.low = torch.minimum(self.low, other.low)

    @property
    def images(self) -> int:
        return int(self.moments.n)

    def state(self) -> Dict[str, torch.Tensor]:
        return {**self.top.state("top"), **self.bottom.state("bottom"), **self.hist.state("hist"),
                **self.moments.state("moments"), "active": self.active, "low": self.low,
                "shape": torch.tensor(self.shape, dtype=torch.long)}

    @classmethod
    def from_state(cls, t: Dict[str, torch.Tensor], k: int) -> "LayerStream":
        return cls(tuple(int(v) for v in t["shape"]), Ranked.from_state(t, "top", k, True),
                   Ranked.from_state(t, "bottom", k, False), Histogram.from_state(t, "hist"),
                   Moments.from_state(t, "moments"), t["active"], t["low"])


@dataclass
class Pass:
    """The pass's outcome: per layer its stream; the logits' classes; images seen, correct, skipped."""

    layers: Dict[str, LayerStream]
    images: int
    correct: Optional[int]          # None: the folder's labels are not the model's classes
    skipped: List[str]
    classifier: Optional[str]       # the layer whose output is the model's output (no class push for it)


@torch.no_grad()
def stats_pass(info: ModelInfo, items: Items, indices: torch.Tensor, layers: Sequence[str], k: int, size: int,
               batch: int = 128, workers: int = 0, skip_bad: bool = False, show: Optional[bool] = None) -> Pass:
    """One pass over ``items`` (this process's share: global ``indices``) for all ``layers``."""
    model = info.module
    dev = device_of(model)
    mean = torch.tensor(info.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(info.std, device=dev).view(1, 3, 1, 1)
    targets = [(name, resolve_module(model, name, info.aliases)[1]) for name in layers]
    labels = class_indices(items, info.classes) if info.classes else None
    out: Dict[str, LayerStream] = {}
    batch_out: Dict[str, List[torch.Tensor]] = {}
    classifier: Optional[str] = None
    outputs = len(info.classes) if info.classes else 0
    ran: set = set()
    correct = 0

    def hook_for(name: str):
        def hook(mod, inp, o):
            f = first_tensor(o)
            if f is None or f.dim() not in (2, 4) or f.shape[0] == 0:
                return
            ran.add(name)
            v, p, _, low = reduce_maps(f)
            old = batch_out.get(name)
            if old is not None and old[0].shape == v.shape:
                better = v > old[0]
                batch_out[name] = [torch.where(better, v, old[0]), torch.where(better, p, old[1]),
                                   torch.minimum(old[2], low), f]
            else:
                batch_out[name] = [v, p, low, f]
        return hook

    share = Stream(items.subset(indices.tolist()), size, batch, workers, skip_bad, show, desc="atlas: one pass over the data")
    n = 0
    with eval_mode(model), forward_hooks([(m, hook_for(name)) for name, m in targets]):
        for idx, x in share:
            batch_out.clear()
            logits = model((x.to(dev) - mean) / std)
            logits = first_tensor(logits)
            y = logits.float() if logits is not None and logits.dim() == 2 and logits.shape[1] == outputs else None
            gidx = indices[idx]
            for name, (v, p, low, f) in batch_out.items():
                if name not in out:
                    out[name] = LayerStream.empty(tuple(f.shape[1:]), k, outputs if y is not None else 0)
                if y is not None and classifier is None and f.shape == y.shape and torch.equal(f.float(), y):
                    classifier = name
                out[name].add(v, p, low, gidx, y if out[name].moments.sy.numel() else None)
            if labels is not None and y is not None:
                correct += int((y.argmax(1).cpu() == labels[gidx]).sum())   # labels: the whole list
            n += len(idx)
    missing = [name for name in layers if name not in ran]
    if missing and n:
        raise LayerError(f"layer(s) {', '.join(missing)} did not run in the model's forward pass "
                         "(or gave no 2-D / 4-D tensor)")
    return Pass(out, n, correct if labels is not None and outputs else None, share.skipped, classifier)


def merge_passes(passes: Sequence[Pass]) -> Pass:
    """The passes of several ranks as one (exact: the streams merge whatever the split)."""
    first = passes[0]
    layers = {name: LayerStream.from_state({k: v.clone() for k, v in s.state().items()}, s.top.k)
              for name, s in first.layers.items()}
    for p in passes[1:]:
        for name, s in p.layers.items():
            if name in layers:
                layers[name].merge(s)
            else:
                layers[name] = s
    correct = None if any(p.correct is None for p in passes) else sum(int(p.correct or 0) for p in passes)
    classifier = next((p.classifier for p in passes if p.classifier), None)
    return Pass(layers, sum(p.images for p in passes), correct, [s for p in passes for s in p.skipped], classifier)
