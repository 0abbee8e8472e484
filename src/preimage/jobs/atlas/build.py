"""``preimage atlas``: every unit of every requested layer of a network, from one pass over a folder.

Stages, each timed: (1) one pass over the data for all layers not yet done
(:func:`.stats.stats_pass`); (2) per layer, its units' visualizations (the maximization default,
batched across units, each unit's image drawn from its own key), the DeconvNet (or guided)
projections of each unit's top-k images cropped to the receptive field (one batched backward pass
per chunk), and an accentuation of each unit in its top image; (3) the report draws the site.

**Resumable.** Each stage's outcome is written, atomically, to a work folder beside the site
(``.SITE.atlas-work``) as it finishes: the pass's per-layer streams, then each finished layer. A
run that is killed continues from what its work folder holds; a finished site keeps every layer's
data in ``data/LAYER.safetensors``, so a re-run with more layers reads the old ones from it. A stored
piece is used only if its identity - model (name, a digest of its weights), data (the files' names
below their folder, its real path, their sizes), size, k and every visualization setting - equals
this run's; a layer's streams only need the pass's part of it, so a run that changes only how units
are pictured (``--iters``, ``--param`` ...) reads them from the site instead of passing over the data.

**Past one machine.** Under torchrun each rank streams its share of the data (its tar shards, or
every world-th image of a folder) and the ranks merge their streams exactly (ties in a fixed order of
the image indices); each rank visualizes every world-th unit; rank 0 gathers them and writes the site,
which equals a one-process run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from safetensors.torch import save as save_bytes

from ... import progress
from ..._io import write_bytes
from ...backward.project import crop_box, field_of, place_of, project_batch, to_picture
from ...data import Items, list_items
from ...errors import ConfigError, ImageError, LayerError
from ...images import resize
from ...models.info import main_layers
from ...models.loading import ModelInfo
from ...optimize.accentuate import accentuate, accentuation_gain
from ...optimize.featurevis import recipe_key
from ...optimize.maximize import maximize
from ...optimize.presets import get_preset
from ...representations.cnn import CNNLayer, probe_layers
from ...results import Shown
from ...trainkit import agree, gather, read_safetensors, save_safetensors
from .stats import LayerStream, Pass, merge_passes, stats_pass

RARE_BELOW = 0.01
CHUNK = 64            # units optimized together (memory, not results: every unit's image is its own)
#: what the one pass over the data depends on (the rest of the identity only changes the pictures)
PASS_KEYS = ("model", "weights", "size", "mean", "std", "data", "images", "k")
PICTURE = 160         # px the data images are kept at for the site (larger inputs are shown smaller anyway)


@dataclass
class Settings:
    """What a stored piece must match to be reused (with the model and the data)."""

    k: int = 9
    param: str = get_preset("default").maximize_param     # the maximization default (issue 26)
    recipe: str = dc_field(default_factory=recipe_key)    # its constants: a piece made by another recipe is redone
    iters: int = 128
    samples: int = 1
    diversity: Optional[float] = None
    accent_iters: int = 64
    rule: str = "deconvnet"
    seed: int = 0
    rare_below: float = RARE_BELOW


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()


@dataclass
class AtlasLayer:
    """One layer's page data: its streams (every channel) and, for the units shown, their pictures."""

    name: str
    stream: LayerStream
    units: List[int]
    field: int
    stride: int
    vis: torch.Tensor               # (U, S, 3, H, W) uint8
    normalized: torch.Tensor        # (U, S) activation reached / the unit's data maximum
    proj: torch.Tensor              # (U, k, 3, F, F) uint8, the projections cropped (gray where clipped)
    boxes: torch.Tensor             # (U, k, 4) crop boxes (top, left, bottom, right) in the image
    accent: torch.Tensor            # (U, 3, H, W) uint8: the unit accentuated in its top image
    accent_act: torch.Tensor        # (U, 2) the unit's activation in its top image before and after the accentuation
    accent_ssim: torch.Tensor       # (U,)
    seconds: float
    classifier: bool = False        # its output is the model's output (no class push)
    rare_below: float = RARE_BELOW
    run: Dict[str, Any] = dc_field(default_factory=dict)   # the pass: images, correct, skipped

    @property
    def gain(self) -> torch.Tensor:
        """(U,) activation after / before the accentuation; NaN where the top image does not activate
        the unit (before <= 0: a ratio says nothing there)."""
        return accentuation_gain(self.accent_act[:, 0], self.accent_act[:, 1])

    @property
    def judged(self) -> bool:
        """Dead / rare are said only where the layer's output is never negative (see ``diagnose``)."""
        return bool(self.stream.low.min() >= 0)

    @property
    def active_fraction(self) -> torch.Tensor:
        return self.stream.active.double() / max(self.stream.images, 1)

    @property
    def dead(self) -> List[int]:
        return [int(c) for c in (self.stream.active == 0).nonzero().flatten()] if self.judged else []

    @property
    def rare(self) -> List[int]:
        if not self.judged or self.stream.images * self.rare_below <= 1:
            return []
        f = self.active_fraction
        return [int(c) for c in ((f > 0) & (f < self.rare_below)).nonzero().flatten()]

    def pushes(self, top: int = 3) -> Optional[Tuple[torch.Tensor, torch.Tensor]]:
        """(U, top) classes whose logits rise most with the unit's value, and (U, top) fall most,
        measured as correlations over the data; None for the classifier itself or without logits."""
        if self.classifier or not self.stream.moments.sy.numel():
            return None
        corr = self.stream.moments.correlation()[self.units]
        t = min(top, corr.shape[1])
        return corr.topk(t, dim=1).indices, (-corr).topk(t, dim=1).indices

    def state(self) -> Dict[str, torch.Tensor]:
        return {**self.stream.state(), "units": torch.tensor(self.units, dtype=torch.long), "vis": self.vis,
                "normalized": self.normalized, "proj": self.proj, "boxes": self.boxes, "accent": self.accent,
                "accent_act": self.accent_act, "accent_ssim": self.accent_ssim}

    @classmethod
    def from_state(cls, name: str, t: Dict[str, torch.Tensor], meta: Dict[str, Any]) -> "AtlasLayer":
        return cls(name, LayerStream.from_state(t, int(meta["k"])), [int(u) for u in t["units"]], int(meta["field"]),
                   int(meta["stride"]), t["vis"], t["normalized"], t["proj"], t["boxes"], t["accent"], t["accent_act"],
                   t["accent_ssim"], float(meta["seconds"]), bool(meta["classifier"]), float(meta["rare_below"]),
                   dict(meta["run"]))

    def meta(self, k: int) -> Dict[str, Any]:
        return {"k": k, "field": self.field, "stride": self.stride, "seconds": self.seconds,
                "classifier": self.classifier, "rare_below": self.rare_below, "run": self.run}


@dataclass(repr=False)
class Atlas(Shown):
    """Every requested unit of a network (a :class:`~preimage.results.Result`; the report draws the
    site: index.html, a page per layer and per unit)."""

    command = "atlas"

    model: str
    data: str
    size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    classes: Optional[Tuple[str, ...]]
    images: int
    correct: Optional[int]
    names: List[str]                      # every data image's name, by global index
    layers: Dict[str, AtlasLayer]
    settings: Settings
    identity: Dict[str, Any]
    seconds: Dict[str, float]
    reused: List[str] = dc_field(default_factory=list)
    skipped: List[str] = dc_field(default_factory=list)
    pictures: Dict[int, torch.Tensor] = dc_field(default_factory=dict)   # data images shown (uint8, <= PICTURE px)

    @property
    def accuracy(self) -> Optional[float]:
        return None if self.correct is None or not self.images else self.correct / self.images

    def to_json(self) -> Dict[str, Any]:
        def layer(a: AtlasLayer) -> Dict[str, Any]:
            f = a.active_fraction
            push = a.pushes()
            units = []
            for j, u in enumerate(a.units):
                d: Dict[str, Any] = {"unit": u, "active_fraction": round(float(f[u]), 6),
                                     "data_max": float(a.stream.top.values[u, 0]),
                                     "normalized_activation": [round(float(v), 4) for v in a.normalized[j]],
                                     "top": [int(i) for i in a.stream.top.index[u]],
                                     "bottom": [int(i) for i in a.stream.bottom.index[u]],
                                     "accentuation": [round(float(v), 4) for v in a.accent_act[j]]}
                if push is not None and self.classes:
                    d["pushes_up"] = [self.classes[int(c)] for c in push[0][j]]
                    d["pushes_down"] = [self.classes[int(c)] for c in push[1][j]]
                units.append(d)
            return {"shape": list(a.stream.shape), "receptive_field": a.field, "stride": a.stride,
                    "judged": a.judged, "dead": a.dead, "rare": a.rare, "units": units, "seconds": round(a.seconds, 2)}
        return {"model": self.model, "data": self.data, "images": self.images, "input_size": self.size,
                "accuracy": self.accuracy, "settings": vars(self.settings), "identity": self.identity,
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()}, "reused_layers": self.reused,
                "skipped_unreadable": len(self.skipped), "layers": {k: layer(v) for k, v in self.layers.items()}}

    def files(self) -> Dict[str, bytes]:
        """Each layer's data (safetensors: streams and pictures), what a later run with more layers reuses."""
        out = {}
        for name, a in self.layers.items():
            out[f"data/{slug(name)}.safetensors"] = _layer_bytes(a, self.identity, self.settings.k)
        return out

    def lines(self) -> List[str]:
        out = [f"{self.model}: {self.images} images" + (f", accuracy {self.accuracy:.4f}" if self.accuracy is not None else "")]
        for name, a in self.layers.items():
            verdict = f"{len(a.dead)} dead, {len(a.rare)} rare" if a.judged else "not judged (output goes negative)"
            out.append(f"{name:<14} {len(a.units):>5} units  {verdict}" + ("  (reused)" if name in self.reused else ""))
        return out


def slug(name: str) -> str:
    """A layer name as a file name (module paths keep their dots)."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in name) or "_"


def _keyed(identity: Dict[str, Any], pass_only: bool = False) -> str:
    """The identity as stored in a piece's metadata: all of it, or the pass's part (``PASS_KEYS``)."""
    return json.dumps({k: identity[k] for k in PASS_KEYS} if pass_only else identity, sort_keys=True)


def _layer_bytes(a: AtlasLayer, identity: Dict[str, Any], k: int) -> bytes:
    """A finished layer as a safetensors file: its tensors, both identities and its record (what the
    work folder holds and what the site's ``data/`` keeps)."""
    meta = {"identity": _keyed(identity), "pass_identity": _keyed(identity, pass_only=True),
            "layer": json.dumps(a.meta(k))}
    return save_bytes({n: t.detach().cpu().contiguous() for n, t in a.state().items()}, metadata=meta)


class Store:
    """The work folder beside the site (``.SITE.atlas-work``) and the finished site's ``data/``:
    pieces are read from either when their identity matches, and written to the work folder. A
    layer's streams are reused whenever the pass's part of the identity matches (``PASS_KEYS``), so
    changing only how units are pictured (``--iters``, ``--param`` ...) does not pass over the data again."""

    def __init__(self, out: str | Path, identity: Dict[str, Any], write: bool = True):
        out = Path(out)
        self.work = out.parent / f".{out.name}.atlas-work"
        self.site = out / "data"
        self.fields = identity
        self.identity = _keyed(identity)
        self.pass_identity = _keyed(identity, pass_only=True)
        self.write = write

    @staticmethod
    def _read(path: Path, key: str, value: str) -> Optional[Tuple[Dict[str, torch.Tensor], Dict[str, str]]]:
        if not path.is_file():
            return None
        try:
            t, meta = read_safetensors(path)
        except Exception:  # a torn or foreign file is not reused: the piece is computed again
            return None
        return (t, meta) if meta.get(key) == value else None

    def layer(self, name: str, units: List[int]) -> Optional[AtlasLayer]:
        for folder in (self.work, self.site):
            got = self._read(folder / f"{slug(name)}.safetensors", "identity", self.identity)
            if got is not None and [int(u) for u in got[0]["units"]] == units:
                return AtlasLayer.from_state(name, got[0], json.loads(got[1]["layer"]))
        return None

    def stream(self, name: str, k: int) -> Optional[Tuple[LayerStream, Dict[str, Any]]]:
        """A layer's streams and its pass's record (images, correct, skipped, whether it is the
        classifier): from a killed run's pass, or from any stored layer of the same pass."""
        got = self._read(self.work / f"{slug(name)}.pass.safetensors", "pass_identity", self.pass_identity)
        if got is not None:
            return LayerStream.from_state(got[0], k), json.loads(got[1]["run"])
        for folder in (self.work, self.site):
            got = self._read(folder / f"{slug(name)}.safetensors", "pass_identity", self.pass_identity)
            if got is not None:
                meta = json.loads(got[1]["layer"])
                return LayerStream.from_state(got[0], k), {**meta["run"], "classifier": name if meta["classifier"] else None}
        return None

    def save_pass(self, p: Pass, run: Dict[str, Any]) -> None:
        if not self.write:
            return
        self.work.mkdir(parents=True, exist_ok=True)
        for name, s in p.layers.items():
            save_safetensors(s.state(), self.work / f"{slug(name)}.pass.safetensors",
                             {"pass_identity": self.pass_identity, "run": json.dumps(run)})

    def save_layer(self, a: AtlasLayer, k: int) -> None:
        if not self.write:
            return
        self.work.mkdir(parents=True, exist_ok=True)
        write_bytes(self.work / f"{slug(a.name)}.safetensors", _layer_bytes(a, self.fields, k))

    def clear(self) -> None:
        if self.write and self.work.is_dir():
            for p in self.work.iterdir():
                p.unlink()
            self.work.rmdir()


# ---------------------------------------------------------------- the job
def share(items: Items, rank: int, world: int) -> torch.Tensor:
    """This rank's global image indices: its tar shards (``shard % world == rank``), or every
    world-th image of a folder."""
    n = len(items)
    if world <= 1:
        return torch.arange(n)
    if items.sharded:
        # the same verdict on every rank (before any collective call): no rank left without data
        used = sorted({int(v) for v in items.shard_of})
        if len(used) < world:
            raise ImageError(f"{len(used)} shard(s) with images for {world} processes: each process needs at least "
                             "one of its own; write more shards (--per-shard) or run fewer processes")
        shard = torch.as_tensor(items.shard_of)
        return (shard % world == rank).nonzero().flatten()
    if n < world:
        raise ImageError(f"{n} image(s) for {world} processes")
    return torch.arange(rank, n, world)


def check_layers(info: ModelInfo, layers: Sequence[str], size: int) -> Dict[str, Tuple[int, ...]]:
    """Each layer's output shape (C, H, W) or (C,); one clear line for a layer that is not there, or
    for a size the whole network refuses (the pass runs it to the end, for the classes)."""
    probe_layers(info.module, size, info.aliases, info.mean, info.std)
    shapes = {}
    for name in layers:
        try:
            rep = CNNLayer.from_info(info, name, size)
            shapes[name] = tuple(rep.output_shape(size))
        except LayerError:
            raise
        except Exception as e:  # a module whose output is not a tensor, a shape the network refuses
            raise LayerError(f"layer {name!r}: {e}") from None
        if len(shapes[name]) not in (1, 3):
            raise LayerError(f"layer {name!r} gives a {len(shapes[name]) + 1}-D output; the atlas shows 2-D and 4-D ones")
    return shapes


def default_layers(info: ModelInfo) -> List[str]:
    """The layers an atlas shows when none are named: :func:`~preimage.models.info.main_layers`, every
    unit-bearing alias, nested ones included (a ResNet's stages and their blocks)."""
    return main_layers(info)


def _relative_names(names: List[str]) -> List[str]:
    """The images' names below the folder (or shards' folder) they share, so that the same data given
    as another path (relative, absolute, through a link) is the same data."""
    dirs = [os.path.dirname(n.split(":", 1)[0] if ".tar:" in n else n) for n in names]
    try:
        root = os.path.commonpath(dirs) if all(dirs) else ""
    except ValueError:       # absolute and relative names mixed
        root = ""
    return [os.path.relpath(n, root) if root else n for n in names]


def _data_digest(items: Items) -> str:
    """The data's identity: the images' names below the folder they share (the same folder named
    another way is the same data), that folder's real path and every file's (or shard's) size."""
    names = items.names
    files = list(items.shards) if items.sharded else [n for n in names if os.path.isfile(n)]
    h = hashlib.sha256("\n".join(_relative_names(names)).encode())
    dirs = [os.path.dirname(os.path.realpath(f)) for f in files]
    if dirs:
        h.update(os.path.commonpath(dirs).encode())
    for f in files:
        h.update(str(os.path.getsize(f)).encode())
    return h.hexdigest()[:16]


def _weights_digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for k, t in module.state_dict().items():
        h.update(k.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def identity_of(info: ModelInfo, items: Items, size: int, s: Settings) -> Dict[str, Any]:
    return {"model": info.name, "weights": _weights_digest(info.module), "size": size, "mean": list(info.mean),
            "std": list(info.std), "data": _data_digest(items), "images": len(items), **vars(s)}


def _visualize(info: ModelInfo, name: str, stream: LayerStream, units: List[int], s: Settings, size: int,
               load, clear, rank: int, world: int, show: Optional[bool]) -> Dict[str, torch.Tensor]:
    """This rank's share of ``units`` (every world-th): visualizations, top-k projections, accentuations."""
    rep = CNNLayer.from_info(info, name, size)
    mine = units[rank::world]
    shape = stream.shape
    geometry = field_of(rep, size)
    field = geometry.side
    stride = rep.stride if len(shape) == 3 else size
    normalizers = stream.top.values[:, 0].clone()
    vis, normalized, proj, boxes, accent, act, assim = [], [], [], [], [], [], []
    bar = progress.bar(total=len(mine), desc=f"atlas: {name}", show=show, unit="unit")
    try:
        for c0 in range(0, len(mine), CHUNK):
            chunk = mine[c0:c0 + CHUNK]
            m = maximize(rep, chunk, samples=s.samples, iters=s.iters, param=s.param, seed=s.seed,
                         normalizers=normalizers, diversity=s.diversity if s.samples > 1 else None, show=False)
            vis.append(to_uint8(m.images))
            normalized.append(m.normalized.float())
            rows = [(u, int(i), place_of(int(p), shape)) for u in chunk
                    for i, p in zip(stream.top.index[u], stream.top.place[u])]
            q = torch.cat([project_batch(rep, torch.stack([load(i) for _, i, _ in part]).to(rep.device),
                                         [u for u, _, _ in part], [w for _, _, w in part], s.rule)[0].cpu()
                           for part in (rows[r0:r0 + CHUNK] for r0 in range(0, len(rows), CHUNK))])
            for (_, _, w), pq in zip(rows, q):
                box = crop_box((w[0], w[1]), stride, geometry, size) if w else (0, 0, size, size)
                t, left, b, r = box
                f = field if w else size
                cell = torch.full((3, f, f), 0.5)
                cell[:, :b - t, :r - left] = to_picture(pq)[:, t:b, left:r]
                proj.append(to_uint8(cell))
                boxes.append(torch.tensor(box))
            tops = torch.stack([load(int(stream.top.index[u, 0])) for u in chunk])
            a = accentuate(rep, tops, chunk, mode="mean" if len(shape) == 3 else "center", iters=s.accent_iters, show=False)
            accent.append(to_uint8(a.images))
            act.append(torch.stack([a.before.float(), a.after.float()], 1))
            assim.append(a.ssim.float())
            bar.update(len(chunk))
            clear()      # the chunk's images: memory grows with a chunk, not with a layer
    finally:
        bar.close()
    k = stream.top.index.shape[1]
    n = len(mine)
    if not n:
        return {"units": torch.zeros(0, dtype=torch.long)}
    return {"units": torch.tensor(mine), "vis": torch.cat(vis), "normalized": torch.cat(normalized),
            "proj": torch.stack(proj).view(n, k, *proj[0].shape), "boxes": torch.stack(boxes).view(n, k, 4),
            "accent": torch.cat(accent), "accent_act": torch.cat(act), "accent_ssim": torch.cat(assim),
            "field": torch.tensor(field), "stride": torch.tensor(stride)}


def _assemble(parts: List[Dict[str, torch.Tensor]], units: List[int]) -> Dict[str, torch.Tensor]:
    """Every rank's share back in unit order."""
    where = {}
    for r, part in enumerate(parts):
        for j, u in enumerate(part["units"].tolist()):
            where[int(u)] = (r, j)
    out = {}
    for key in ("vis", "normalized", "proj", "boxes", "accent", "accent_act", "accent_ssim"):
        out[key] = torch.stack([parts[where[u][0]][key][where[u][1]] for u in units])
    first = next(p for p in parts if len(p["units"]))
    out["field"], out["stride"] = first["field"], first["stride"]
    return out


def atlas(info: ModelInfo, data: Union[str, Items], layers: Sequence[str], out: Optional[str | Path],
          channels: Optional[Dict[str, List[int]]] = None,
          settings: Optional[Settings] = None, n: Optional[int] = None, batch: int = 128, workers: int = 0,
          skip_bad: bool = False, rank: int = 0, world: int = 1, show: Optional[bool] = None,
          resume: bool = True) -> Atlas:
    """The atlas of ``info``'s ``layers`` over the images of ``data`` (a folder or tar shards, or
    :class:`~preimage.data.Items` such as images in memory), its pieces kept beside ``out`` as they
    finish (see the module's docstring; ``out`` None: nothing kept, nothing reused). ``channels``: per
    layer the units to show (default: all); the pass keeps every channel's statistics either way."""
    s = settings or Settings()
    if s.k < 1:
        raise ConfigError(f"--k must be at least 1, got {s.k}")
    if s.samples < 1 or s.iters < 1 or s.accent_iters < 1:
        raise ConfigError("--samples, --iters and --accent-iters must be at least 1")
    if not layers:
        raise LayerError("no layers chosen")
    layers = list(dict.fromkeys(layers))          # a layer named twice is shown once
    slugs: Dict[str, str] = {}
    for name in layers:
        if slug(name) in slugs:
            raise LayerError(f"layers {slugs[slug(name)]!r} and {name!r} would share the site's file names")
        slugs[slug(name)] = name
    size = int(info.input_size)
    shapes = check_layers(info, layers, size)
    chosen = {name: list(range(shapes[name][0])) for name in layers}
    for name, units in (channels or {}).items():
        bad = [u for u in units if not 0 <= u < shapes[name][0]]
        if bad:
            raise ConfigError(f"--channels {min(units)}:{max(units) + 1} is out of range for {name}: it has "
                              f"{shapes[name][0]} channels (at most 0:{shapes[name][0]})")
        if not units:
            raise ConfigError(f"no channels chosen for {name}")
        chosen[name] = list(units)
    items = (list_items(data) if isinstance(data, str) else data).evenly_spaced(n)
    if not len(items):
        raise ImageError(f"no images in {data}")
    ident = identity_of(info, items, size, s)
    store = Store(out if out is not None else ".", ident, write=rank == 0 and out is not None)
    resume = resume and out is not None
    seconds: Dict[str, float] = {}
    done: Dict[str, AtlasLayer] = {}
    if resume:
        for name in layers:
            got = store.layer(name, chosen[name])
            if got is not None:
                done[name] = got
    reused = list(done)
    todo = [name for name in layers if name not in done]

    # (1) one pass over the data for every layer not done (or its streams, kept by a killed run)
    t0 = time.perf_counter()
    streams: Dict[str, LayerStream] = {}
    run: Dict[str, Any] = {k: v for k, v in next(iter(done.values())).run.items() if k != "classifier"} if done else {}
    classifier: Dict[str, bool] = {}
    if todo:
        found: Dict[str, Tuple[LayerStream, Dict[str, Any]]] = {}
        if resume:
            for name in todo:
                kept = store.stream(name, s.k)
                if kept is not None:
                    found[name] = kept
        if len(found) == len(todo):
            streams = {name: g[0] for name, g in found.items()}
            classifier = {name: g[1].get("classifier") == name for name, g in found.items()}
            run = {key: next(iter(found.values()))[1][key] for key in ("images", "correct", "skipped")}
        else:
            # a rank that cannot read its share stops every rank with the same error (not a hang, not a traceback)
            p = agree(lambda: stats_pass(info, items, share(items, rank, world), todo, s.k, size, batch, workers,
                                         skip_bad, show if rank == 0 else False), world)
            merged = merge_passes(gather(p, world)) if world > 1 else p
            if merged.images == 0:
                raise ImageError(f"no readable images in {data}")
            streams = {name: merged.layers[name] for name in todo}
            classifier = {name: merged.classifier == name for name in todo}
            run = {"images": merged.images, "correct": merged.correct, "skipped": merged.skipped}
            if 2 * s.k > merged.images:     # before anything is kept
                raise ConfigError(f"--k {s.k}: the top and the bottom {s.k} images of a unit would overlap in the "
                                  f"{merged.images} image(s) read; use --k {max(1, merged.images // 2)} or less, or "
                                  "more images")
            store.save_pass(merged, {**run, "classifier": merged.classifier})
            seconds["pass"] = time.perf_counter() - t0

    # (2) per layer: visualizations, projections, accentuations - each layer stored when done
    cache: Dict[int, torch.Tensor] = {}

    def load(i: int) -> torch.Tensor:
        if i not in cache:
            cache[i] = items.load(i, size)
        return cache[i]

    for name in todo:
        t1 = time.perf_counter()
        st = streams[name]
        part = _visualize(info, name, st, chosen[name], s, size, load, cache.clear, rank, world,
                          show if rank == 0 else False)
        parts = gather(part, world) if world > 1 else [part]
        a = _assemble(parts, chosen[name])
        layer = AtlasLayer(name, st, chosen[name], int(a["field"]), int(a["stride"]), a["vis"], a["normalized"],
                           a["proj"], a["boxes"], a["accent"], a["accent_act"], a["accent_ssim"], 0.0,
                           classifier=classifier[name], rare_below=s.rare_below, run=run)
        layer.seconds = time.perf_counter() - t1
        seconds[f"layer {name}"] = layer.seconds
        store.save_layer(layer, s.k)
        done[name] = layer
        cache.clear()
    ordered = {name: done[name] for name in layers}
    pictures: Dict[int, torch.Tensor] = {}
    for lay in ordered.values():
        for u in lay.units:
            for i in (*lay.stream.top.index[u].tolist(), *lay.stream.bottom.index[u].tolist()):
                if int(i) not in pictures:
                    x = items.load(int(i), size)
                    pictures[int(i)] = to_uint8(resize(x, PICTURE) if size > PICTURE else x)
    where = data if isinstance(data, str) else f"{len(items)} images in memory"
    return Atlas(info.name, where, size, tuple(info.mean), tuple(info.std), info.classes, int(run["images"]),
                 run.get("correct"), list(items.names), ordered, s, ident, seconds, reused, list(run.get("skipped", [])),
                 pictures)
