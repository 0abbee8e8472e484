"""The training toolkit both trainers (classifiers, inverters) stand on.

* :func:`lr_schedule` - one learning-rate rule computed from the step number (so a resumed run
  follows the same curve): an optional linear warm-up, then a cosine, linear or constant decay.
* :class:`Checkpoint` - a weights-only checkpoint that remembers the settings of its run and
  refuses to resume a run with other settings, naming what differs.
* :func:`save_safetensors` / :func:`read_safetensors` - tensors plus string metadata, atomically.
* :func:`check_finite` - a diverging run stops with one line naming the step and learning rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from . import _io
from .errors import ConfigError, DivergedError, WeightsError


def lr_schedule(step: int, total: int, peak: float, warmup: int = 0, warm_start: float = 0.0,
                warm_counts_current: bool = False, decay: str = "cosine", floor: float = 0.0) -> float:
    """The learning rate at ``step`` of ``total``.

    Warm-up (``step < warmup``): linear from ``warm_start * peak`` towards ``peak``; the fraction is
    ``(step + 1) / warmup`` with ``warm_counts_current`` (the step being taken counts), else
    ``step / warmup``. Then, over the remaining steps, ``decay``: ``cosine`` from ``peak`` to
    ``floor * peak``, ``linear`` to zero, or ``constant``.
    """
    if warmup > 0 and step < warmup:
        f = (step + 1 if warm_counts_current else step) / warmup
        return peak * (warm_start + (1 - warm_start) * f)
    if decay == "constant":
        return peak
    t = (step - warmup) / max(1, total - warmup)
    if decay == "linear":
        return peak * max(0.0, 1.0 - t)
    if decay == "cosine":
        return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))
    raise ConfigError(f"unknown decay {decay!r}; valid: cosine, linear, constant")


def check_finite(loss: torch.Tensor, step: int, lr: float, module: Optional[torch.nn.Module] = None) -> None:
    """Raise :class:`DivergedError` if the loss (or, given ``module``, any of its weights) is NaN or inf."""
    bad = not math.isfinite(float(loss))
    if not bad and module is not None:
        bad = not all(bool(torch.isfinite(p).all()) for p in module.parameters())
    if bad:
        raise DivergedError(f"training diverged at step {step + 1} (loss {float(loss):g}) with learning rate {lr:g}; "
                            f"lower --lr (no weights were written)")


class Checkpoint:
    """A resumable checkpoint at ``path`` for a run with ``settings`` (a JSON-able dict).

    ``save(state)`` writes tensors and plain values atomically (read back with
    ``torch.load(weights_only=True)``: never unpickled blindly); ``load()`` returns the state and
    refuses a checkpoint from a run with other settings, naming each that differs.
    """

    def __init__(self, path: str | Path, settings: Mapping[str, Any]):
        self.path = Path(path)
        self.settings = json.loads(json.dumps(dict(settings)))  # normalised as it will be read back

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, state: Dict[str, Any]) -> None:
        payload = dict(state, settings=json.dumps(self.settings))
        _io.atomic_write(self.path, lambda p: torch.save(payload, str(p)))

    def load(self) -> Dict[str, Any]:
        if not self.path.is_file():
            raise WeightsError(f"--resume: no checkpoint at {self.path}")
        try:
            ck = torch.load(str(self.path), map_location="cpu", weights_only=True)
        except Exception as e:
            raise WeightsError(f"--resume: {self.path} is not a readable checkpoint ({type(e).__name__})") from None
        old = json.loads(ck.pop("settings", "{}"))
        if old != self.settings:
            diff = sorted(k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k))
            raise ConfigError(f"--resume: {self.path} belongs to a run with other settings ("
                              + "; ".join(f"{k} was {old.get(k)!r}, now {self.settings.get(k)!r}" for k in diff) + ")")
        return ck

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def save_safetensors(tensors: Mapping[str, torch.Tensor], path: str | Path, metadata: Mapping[str, str]) -> Path:
    """Write ``tensors`` (copied to contiguous CPU memory) with string ``metadata``, atomically."""
    from safetensors.torch import save_file

    sd = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    meta = {str(k): str(v) for k, v in metadata.items()}
    return _io.atomic_write(path, lambda p: save_file(sd, str(p), metadata=meta))


def read_safetensors(path: str | Path, header_only: bool = False) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a clear :class:`WeightsError` for anything else."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsError(f"file not found: {path}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {} if header_only else {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise WeightsError(f"{path} is not a safetensors file ({type(e).__name__}: {e})".splitlines()[0]) from None
    return tensors, meta


class Throughput:
    """What bounds a training run, measured as it goes: the loader's rate (images decoded per second
    of decoding, times the decoding processes: what the loader could deliver) against the model's
    (images per second of training steps), and the time spent waiting for data."""

    def __init__(self, workers: int = 0):
        import time

        self._clock = time.perf_counter
        self.processes = max(1, int(workers))
        self.decoded, self.decode_s, self.images, self.model_s, self.wait_s = 0, 0.0, 0, 0.0, 0.0
        self._t = self._clock()

    def loaded(self, n: int, decode_seconds: float) -> None:
        """A batch of ``n`` images arrived (its decoding took ``decode_seconds`` in one process)."""
        now = self._clock()
        self.wait_s += now - self._t
        self._t = now
        self.decoded += n
        self.decode_s += decode_seconds

    def stepped(self, n: int) -> None:
        """The model finished a step on ``n`` images."""
        now = self._clock()
        self.model_s += now - self._t
        self._t = now
        self.images += n

    @property
    def loader_rate(self) -> float:
        return self.decoded / self.decode_s * self.processes if self.decode_s > 0 else float("inf")

    @property
    def model_rate(self) -> float:
        return self.images / self.model_s if self.model_s > 0 else float("inf")

    def postfix(self) -> Dict[str, str]:
        return {"load": f"{self.loader_rate:.0f} img/s", "model": f"{self.model_rate:.0f} img/s"}

    def summary(self) -> Dict[str, float]:
        total = self.wait_s + self.model_s
        return {"loader_images_per_second": round(self.loader_rate, 1), "model_images_per_second": round(self.model_rate, 1),
                "waiting_for_data": round(self.wait_s / total, 4) if total > 0 else 0.0,
                "decoding_processes": self.processes}


# ---------------------------------------------------------------- torchrun
def distributed() -> Tuple[int, int, bool]:
    """(rank, world size, whether this call created the gloo process group): a process started by
    ``torchrun`` (``WORLD_SIZE`` > 1) joins the group; a plain process is rank 0 of 1."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group("gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def gather(value: Any, world: int) -> list:
    """``value`` of every rank, in rank order (``[value]`` without torchrun)."""
    if world <= 1:
        return [value]
    import torch.distributed as dist

    out: list = [None] * world
    dist.all_gather_object(out, value)
    return out


def finish_distributed(world: int, created: bool) -> None:
    """Wait for every rank, then leave the process group this run created."""
    if world <= 1:
        return
    import torch.distributed as dist

    dist.barrier()
    if created:
        dist.destroy_process_group()


def param_checksum(module: torch.nn.Module) -> float:
    """Sum of every parameter and buffer, in float64 (equal on ranks that are in sync)."""
    with torch.no_grad():
        return float(sum(t.double().sum() for t in module.state_dict().values()))
