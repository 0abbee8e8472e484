"""Trained inverters as files: a decoder plus what it was trained for.

An inverter file is a safetensors file (never a pickle) whose metadata says

* ``format``: ``preimage-inverter/1``;
* ``representation``: the identity of the representation it decodes (:func:`identity`), e.g.
  ``RefNet/features.4`` or ``hog(cell=8,orientations=9)``, and ``name``, its readable name;
* ``config``: the decoder's constructor arguments (JSON), ``image_size`` among them;
* ``training``: how it was made (JSON: data, steps, seconds, validation error, command).

:func:`load_inverter` rebuilds the decoder from the metadata, loads the tensors strictly, and, given
a representation, refuses a file trained for another one with a message that names both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import torch

from .. import _io
from ..errors import WeightsError
from .decoder import Decoder

FORMAT = "preimage-inverter/1"
BUNDLED_DIR = Path(__file__).with_name("weights")


def identity(rep) -> str:
    """What makes two representations the same code: model class and module path for a CNN layer,
    name and options for a hand-crafted descriptor."""
    path = getattr(rep, "path", None)
    if path is not None and hasattr(rep, "model"):
        return f"{type(rep.model).__name__}/{path}"
    extra = rep.extra_repr().replace(f"name={rep.name!r}", "").strip(", ").replace(" ", "")
    return f"{rep.name}({extra})" if extra else rep.name


def fingerprint(rep) -> str:
    """A digest of a CNN representation's weights ('' for a hand-crafted one): a decoder trained
    on one set of weights is wrong for another."""
    import hashlib

    model = getattr(rep, "model", None)
    if model is None:
        return ""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _shape_text(shape) -> str:
    return "x".join(str(int(s)) for s in shape)


@dataclass
class Inverter:
    """A decoder and its provenance. ``inverter(features)`` -> images (N, 3, S, S) in [0, 1]."""

    decoder: Decoder
    representation: str
    name: str
    training: Dict = field(default_factory=dict)
    fingerprint: str = ""
    path: Optional[str] = None

    @property
    def image_size(self) -> int:
        return self.decoder.image_size

    @property
    def feature_shape(self):
        return self.decoder.feature_shape

    def check(self, rep, size: Optional[int] = None) -> None:
        """Raise :class:`WeightsError` unless this inverter decodes ``rep`` at ``size``."""
        where = self.path or "this inverter"
        want = identity(rep)
        if want != self.representation:
            raise WeightsError(f"{where} was trained for {self.name} ({self.representation}), not for "
                               f"{rep.name} ({want}); train one with 'preimage train-inverter'")
        fp = fingerprint(rep)
        if self.fingerprint and fp and fp != self.fingerprint:
            raise WeightsError(f"{where} was trained on other weights of {self.name} (weights digest "
                               f"{self.fingerprint}, these are {fp}); train one for these weights")
        size = size or self.image_size
        shape = tuple(rep.output_shape(size))
        if shape != tuple(self.feature_shape):
            raise WeightsError(f"{where} decodes {self.name} features of shape {_shape_text(self.feature_shape)} "
                               f"({self.image_size} px images); {rep.name} gives {_shape_text(shape)} at {size} px")

    @torch.no_grad()
    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """Decode (N, *feature_shape) codes. Runs channels-last (1.6x faster for the convolutions on
        CPU, measured on the hog decoder); the images come back in the usual layout."""
        self.decoder.eval()
        if features.dim() == 4:
            self.decoder.to(memory_format=torch.channels_last)
            features = features.contiguous(memory_format=torch.channels_last)
        return self.decoder(features).contiguous()

    def to(self, device) -> "Inverter":
        self.decoder.to(device)
        return self


def save_inverter(decoder: Decoder, rep, path: str | Path, training: Optional[Dict] = None) -> Path:
    """Write ``decoder`` for ``rep`` atomically as an inverter file."""
    from safetensors.torch import save_file

    sd = {k: v.detach().cpu().contiguous().clone() for k, v in decoder.state_dict().items()}
    meta = {"format": FORMAT, "representation": identity(rep), "name": rep.name,
            "fingerprint": fingerprint(rep), "config": json.dumps(decoder.config()), "training": json.dumps(training or {})}
    return _io.atomic_write(path, lambda p: save_file(sd, str(p), metadata=meta))


def load_inverter(path: str | Path, rep=None, size: Optional[int] = None, device=None) -> Inverter:
    """Load an inverter file; with ``rep``, check that it decodes that representation."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"inverter file not found: {path}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightsError(f"{path} is not a safetensors inverter file ({type(e).__name__}: {e})".splitlines()[0]) from None
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a preimage inverter (metadata format {meta.get('format')!r}, "
                           f"expected {FORMAT!r}); classifier weights go to --weights")
    try:
        config = json.loads(meta["config"])
        training = json.loads(meta.get("training", "{}"))
        dec = Decoder(**config)
    except (KeyError, TypeError, ValueError) as e:
        raise WeightsError(f"{path}: damaged inverter metadata ({type(e).__name__}: {e})") from None
    missing = sorted(set(dec.state_dict()) - set(tensors))
    extra = sorted(set(tensors) - set(dec.state_dict()))
    if missing or extra:
        raise WeightsError(f"{path}: tensors do not fit the decoder (missing: {', '.join(missing[:4]) or '-'}; "
                           f"unexpected: {', '.join(extra[:4]) or '-'})")
    try:
        dec.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
    except RuntimeError as e:
        raise WeightsError(f"{path}: {str(e).splitlines()[0]}") from None
    inv = Inverter(dec.eval(), meta["representation"], meta.get("name", meta["representation"]), training,
                   fingerprint=meta.get("fingerprint", ""), path=str(p))
    if device is not None:
        inv.to(device)
    if rep is not None:
        inv.check(rep, size)
    return inv


def bundled_inverters() -> Dict[str, Path]:
    """File stem -> path of the inverters that ship with the package."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.safetensors"))}


def find_bundled(rep, size: Optional[int] = None) -> Inverter:
    """The bundled inverter for ``rep`` (at ``size``), or a :class:`WeightsError` listing what ships."""
    from safetensors import safe_open

    found, want = [], identity(rep)
    for stem, p in bundled_inverters().items():
        with safe_open(str(p), framework="pt") as f:  # the header only; tensors load for the match
            meta = f.metadata() or {}
        image_size = json.loads(meta.get("config", "{}")).get("image_size")
        found.append(f"{meta.get('name')}@{image_size}px")
        if meta.get("representation") == want and (size is None or image_size == size):
            return load_inverter(p, rep, image_size)
    raise WeightsError(f"no bundled inverter for {rep.name}" + (f" at {size} px" if size else "") +
                       f"; bundled: {', '.join(found) or 'none'}; pass --inverter FILE "
                       f"(made by 'preimage train-inverter')")
