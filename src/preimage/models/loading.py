"""Resolve a model name to an ``nn.Module`` with its input normalization, and load weights safely.

A model is named by

* a short name from the zoo (``refnet``; see :mod:`preimage.models.zoo`),
* ``package.module:factory``, or
* ``path/to/file.py:factory``,

where ``factory()`` returns an ``nn.Module``. Weights come from a safetensors file or a torch
checkpoint read with ``torch.load(..., weights_only=True)`` (never unpickled blindly); a bare state
dict, ``{"state_dict": ...}``, ``{"model": ...}`` and DataParallel ``module.`` prefixes are accepted.
A factory's module may carry ``preimage_mean``, ``preimage_std``, ``preimage_input_size`` and
``preimage_aliases`` attributes; ``mean``/``std`` arguments override them.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import ModelError
from . import zoo
from .info import ModelInfo, load_weights, read_state_dict

__all__ = ["ModelInfo", "load_model", "load_weights", "read_state_dict"]


def parse_floats(text: str | Sequence[float] | None, what: str, n: int = 3) -> Optional[Tuple[float, ...]]:
    """Parse ``"0.5,0.5,0.5"`` (or a sequence) into ``n`` floats, or a clear error."""
    if text is None:
        return None
    if isinstance(text, str):
        parts = [p for p in text.replace(" ", "").split(",") if p != ""]
        try:
            vals = tuple(float(p) for p in parts)
        except ValueError:
            raise ModelError(f"{what} must be {n} comma-separated numbers, got {text!r}") from None
    else:
        vals = tuple(float(v) for v in text)
    if len(vals) != n:
        raise ModelError(f"{what} must have {n} values (one per color channel), got {len(vals)}: {text!r}")
    if not all(math.isfinite(v) for v in vals):
        raise ModelError(f"{what} values must be finite numbers, got {text!r}")
    if what.endswith("std") and any(v <= 0 for v in vals):
        raise ModelError(f"{what} values must be positive, got {text!r}")
    return vals


def _import_factory(spec: str) -> Callable[[], nn.Module]:
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ModelError(f"cannot resolve model {spec!r}: expected a zoo name, package.module:factory "
                         f"or path/to/file.py:factory")
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise ModelError(f"model file not found: {target}")
        modname = f"_preimage_user_{abs(hash(str(path.resolve())))}"
        try:
            mspec = importlib.util.spec_from_file_location(modname, path)
            if mspec is None or mspec.loader is None:
                raise ImportError(f"not a Python file: {path}")
            module = importlib.util.module_from_spec(mspec)
            sys.modules[modname] = module
            mspec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(modname, None)
            raise ModelError(f"importing {target} failed: {type(e).__name__}: {e}") from None
    else:
        try:
            module = importlib.import_module(target)
        except Exception as e:
            raise ModelError(f"cannot import module {target!r}: {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        names = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
        raise ModelError(f"{target} has no callable {attr!r}; callables there: {', '.join(names[:12]) or 'none'}")
    return fn


def call_factory(fn: Callable[[], nn.Module], spec: str) -> nn.Module:
    try:
        model = fn()
    except Exception as e:
        raise ModelError(f"model factory {spec} raised {type(e).__name__}: {e}".splitlines()[0]) from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"model factory {spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model


MODEL_FILE_KEYS = {"model": str, "weights": str, "mean": list, "std": list, "size": int}


def read_model_file(path: str | os.PathLike) -> Dict:
    """A model file (TOML) carrying a network with its weights and normalization::

        model = "nets.py:resnet_factory"     # or a zoo name, or package.module:factory
        weights = "weights.safetensors"      # optional; relative to this file
        mean = [0.485, 0.456, 0.406]         # optional
        std = [0.229, 0.224, 0.225]          # optional
        size = 32                            # optional input size

    Paths inside are relative to the file. Unknown keys and wrong types are refused.
    """
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path} is not a valid TOML model file: {str(e).splitlines()[0]}") from None
    unknown = sorted(set(data) - set(MODEL_FILE_KEYS))
    if unknown:
        raise ModelError(f"{path}: unknown key(s) {', '.join(unknown)}; a model file has {', '.join(MODEL_FILE_KEYS)}")
    if "model" not in data:
        raise ModelError(f"{path}: a model file needs 'model = \"zoo name | package.module:factory | file.py:factory\"'")
    for k, v in data.items():
        if not isinstance(v, MODEL_FILE_KEYS[k]) or isinstance(v, bool):
            raise ModelError(f"{path}: {k} must be a {MODEL_FILE_KEYS[k].__name__}, got {v!r}")
    base = p.resolve().parent
    target, colon, attr = data["model"].rpartition(":")
    if colon and (target.endswith(".py") or "/" in target) and not Path(target).is_absolute():
        data["model"] = f"{base / target}:{attr}"
    if "weights" in data and not Path(data["weights"]).is_absolute():
        data["weights"] = str(base / data["weights"])
    return data


def load_model(spec: str, weights: Optional[str] = None, mean=None, std=None,
               input_size: Optional[int] = None, pretrained: bool = True, seed: Optional[int] = None) -> ModelInfo:
    """Resolve ``spec`` (zoo name, model file ``.toml``, ``pkg.mod:factory`` or ``file.py:factory``)
    to a :class:`ModelInfo`.

    ``mean``/``std`` (three numbers or a comma-separated string) describe the normalization the
    model expects of a [0, 1] image; with ``weights`` and ``input_size`` they override a model
    file's. ``pretrained=False`` skips the zoo's default weights. ``seed``: the random state the
    network is built under (its initial weights, where no weights are loaded); the caller's own
    random state is left as it was.
    """
    if spec.endswith(".toml"):
        f = read_model_file(spec)
        info = load_model(f["model"], weights=weights or f.get("weights"), mean=mean if mean is not None else f.get("mean"),
                          std=std if std is not None else f.get("std"),
                          input_size=input_size if input_size is not None else f.get("size"),
                          pretrained=pretrained, seed=seed)
        info.name = Path(spec).stem if info.name == f["model"] else info.name
        return info
    mean_v = parse_floats(mean, "--mean")
    std_v = parse_floats(std, "--std")
    if input_size is not None and int(input_size) < 1:
        raise ModelError(f"--size must be a positive number of pixels, got {input_size}")
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(int(seed))
        info = _build(spec, weights, pretrained, zoo)
    if mean_v is not None:
        info.mean = mean_v
    if std_v is not None:
        info.std = std_v
    if input_size is not None:
        info.input_size = int(input_size)
    info.module.eval()
    return info


def _build(spec: str, weights: Optional[str], pretrained: bool, zoo) -> ModelInfo:
    if spec in zoo.MODELS:
        info = zoo.build(spec, weights=weights, pretrained=pretrained)
    else:
        if ":" not in spec:
            import difflib

            near = difflib.get_close_matches(spec, list(zoo.MODELS), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise ModelError(f"unknown model {spec!r}: expected one of {', '.join(zoo.MODELS)}, "
                             f"package.module:factory or path/to/file.py:factory{hint}")
        module = call_factory(_import_factory(spec), spec)
        if weights is not None:
            load_weights(module, weights)
        info = ModelInfo(
            module=module, name=spec,
            mean=tuple(getattr(module, "preimage_mean", (0.0, 0.0, 0.0))),
            std=tuple(getattr(module, "preimage_std", (1.0, 1.0, 1.0))),
            input_size=int(getattr(module, "preimage_input_size", 224)),
            aliases=dict(getattr(module, "preimage_aliases", {})),
        )
    return info
