"""Trained inverters as files: a decoder plus what it was trained for.

An inverter file is a safetensors file (never a pickle) whose metadata says

* ``format``: ``preimage-inverter/1``;
* ``spec``: the full spec of the representation it decodes (every option, :meth:`spec`), compared
  exactly when the file is loaded for a representation; ``representation``, the same in words
  (``RefNet/features.4``, ``lbp(P=8,R=1.0,cell=8)``), and ``name``, its readable name (files written
  before the spec existed carry only ``representation``: their spec is rebuilt from it, taking the
  defaults for the options it does not name);
* ``config``: the decoder's constructor arguments (JSON), ``image_size`` among them;
* ``training``: how it was made (JSON: data, steps, seconds, validation error, command).

:func:`load_inverter` rebuilds the decoder from the metadata, loads the tensors strictly, and, given
a representation, refuses a file trained for another one with a message that names both.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

import torch

from ..errors import WeightsError
from ..representations import HANDCRAFTED
from ..representations.base import Representation, spec_key
from ..trainkit import read_safetensors, save_safetensors
from .decoder import Decoder

FORMAT = "preimage-inverter/1"
BUNDLED_DIR = Path(__file__).with_name("weights")


def describe(spec: Dict) -> str:
    """A spec in words: ``RefNet/features.4`` (+ normalization), ``lbp(P=8,R=1.0,cell=8)``."""
    if spec.get("kind") == "cnn":
        text = f"{spec.get('model')}/{spec.get('layer')}"
        if "mean" in spec:
            text += f" (mean {','.join(map(str, spec['mean']))}, std {','.join(map(str, spec.get('std', [])))})"
        return text
    opts = ",".join(f"{k}={v}" for k, v in sorted(spec.items()) if k != "kind")
    return f"{spec.get('kind')}({opts})" if opts else str(spec.get("kind"))


def identity(rep: Representation) -> str:
    """What makes two representations the same code: the canonical text of ``rep.spec()``."""
    return spec_key(rep.spec())


def _legacy_spec(text: str) -> Dict:
    """The spec of a file written before specs: ``Model/path`` or ``name(k=v,...)`` (defaults for
    the options not named, as the descriptor was built then)."""
    m = re.fullmatch(r"([\w-]+)(?:\((.*)\))?", text)
    if m is None:
        model, _, path = text.rpartition("/")
        return {"kind": "cnn", "model": model, "layer": path}

    name, opts = m.group(1), m.group(2) or ""
    if name not in HANDCRAFTED:
        return {"kind": name}
    types = HANDCRAFTED[name][1]
    kw = {}
    for part in filter(None, opts.split(",")):
        k, _, v = part.partition("=")
        if k in types:
            kw[k] = types[k](v)
    return HANDCRAFTED[name][0](**kw).spec()


def _matches(file_spec: Dict, rep_spec: Dict) -> bool:
    """Equal specs; a legacy CNN spec (no normalization recorded) compares model and layer only."""
    if file_spec.get("kind") == "cnn" and "mean" not in file_spec:
        return all(rep_spec.get(k) == file_spec.get(k) for k in ("kind", "model", "layer"))
    return spec_key(file_spec) == spec_key(rep_spec)


def file_spec(meta: Dict[str, str]) -> Dict:
    """The spec an inverter file's metadata records (rebuilt for files written before specs)."""
    if "spec" in meta:
        return json.loads(meta["spec"])
    return _legacy_spec(meta.get("representation", ""))


def fingerprint(rep: Representation) -> str:
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
    spec: Dict = field(default_factory=dict)
    training: Dict = field(default_factory=dict)
    fingerprint: str = ""
    path: Optional[str] = None

    @property
    def image_size(self) -> int:
        return self.decoder.image_size

    @property
    def feature_shape(self):
        return self.decoder.feature_shape

    def check(self, rep: Representation, size: Optional[int] = None) -> None:
        """Raise :class:`WeightsError` unless this inverter decodes ``rep`` at ``size``."""
        where = self.path or "this inverter"
        want = rep.spec()
        if not _matches(self.spec, want):
            raise WeightsError(f"{where} was trained for {describe(self.spec)}, not for {describe(want)}; "
                               f"train one with 'preimage train-inverter'")
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
            self.decoder.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            features = features.contiguous(memory_format=torch.channels_last)
        return self.decoder(features).contiguous()

    def to(self, device) -> "Inverter":
        self.decoder.to(device)
        return self


def save_inverter(decoder: Decoder, rep: Representation, path: str | Path, training: Optional[Dict] = None) -> Path:
    """Write ``decoder`` for ``rep`` atomically as an inverter file."""
    meta = {"format": FORMAT, "representation": describe(rep.spec()), "spec": identity(rep), "name": rep.name,
            "fingerprint": fingerprint(rep), "config": json.dumps(decoder.config()), "training": json.dumps(training or {})}
    return save_safetensors(decoder.state_dict(), path, meta)


def load_inverter(path: str | Path, rep: Optional[Representation] = None, size: Optional[int] = None, device=None) -> Inverter:
    """Load an inverter file; with ``rep``, check that it decodes that representation."""
    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"inverter file not found: {path}")
    try:
        tensors, meta = read_safetensors(p)
    except WeightsError as e:
        raise WeightsError(str(e).replace("is not a safetensors file", "is not a safetensors inverter file")) from None
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
    inv = Inverter(dec.eval(), meta.get("representation", ""), meta.get("name", meta.get("representation", "")),
                   file_spec(meta), training, fingerprint=meta.get("fingerprint", ""), path=str(p))
    if device is not None:
        inv.to(device)
    if rep is not None:
        inv.check(rep, size)
    return inv


def is_inverter_file(path: str | Path) -> bool:
    """Whether ``path`` is a preimage inverter file (which ``train-inverter`` may replace)."""
    try:
        return read_safetensors(path, header_only=True)[1].get("format") == FORMAT
    except WeightsError:
        return False


def bundled_inverters() -> Dict[str, Path]:
    """File stem -> path of the inverters that ship with the package."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUNDLED_DIR.glob("*.safetensors"))}


def find_bundled(rep: Representation, size: Optional[int] = None) -> Inverter:
    """The bundled inverter for ``rep`` (at ``size``), on ``rep``'s device, or a :class:`WeightsError`
    listing what ships."""
    found, want = [], rep.spec()
    for p in bundled_inverters().values():
        _, meta = read_safetensors(p, header_only=True)  # tensors load for the match only
        image_size = json.loads(meta.get("config", "{}")).get("image_size")
        spec = file_spec(meta)
        found.append(f"{describe(spec) if spec.get('kind') != 'cnn' else meta.get('name')}@{image_size}px")
        if _matches(spec, want) and (size is None or image_size == size):
            return load_inverter(p, rep, image_size, device=rep.device)
    label = f"{rep.name} ({describe(want)})" if want.get("kind") == "cnn" else describe(want)
    raise WeightsError(f"no bundled inverter for {label}" + (f" at {size} px" if size else "") +
                       f"; bundled: {', '.join(found) or 'none'}; pass --inverter FILE "
                       f"(made by 'preimage train-inverter')")
