"""The training toolkit both trainers (classifiers, inverters) stand on.

* :func:`lr_schedule` - one learning-rate rule computed from the step number (so a resumed run
  follows the same curve): an optional linear warm-up, then a cosine, linear or constant decay.
* :class:`Checkpoint` - a weights-only checkpoint that remembers the settings of its run and
  refuses to resume a run with other settings, naming what differs.
* :func:`save_safetensors` / :func:`read_safetensors` - tensors plus string metadata, atomically.
* :func:`check_finite` - a diverging run stops with one line naming the step and learning rate.
* :class:`Trainer` - the one training loop: the torchrun session, the steps from the resumed one
  (learning rate from the schedule, the trainer's own forward pass, divergence check, optimizer
  step), progress and throughput, periodic evaluation and checkpoints, resume, and the end.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, Generator, List, Mapping, Optional, Tuple

import torch
from torch.nn.parallel import DistributedDataParallel

from . import _io, errors, progress
from .errors import ConfigError, DivergedError, PreimageError, WeightsError


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
        self.settings = json.loads(json.dumps(dict(settings)))  # normalized as it will be read back

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


def agree(fn: Callable[[], Any], world: int) -> Any:
    """``fn()`` on every rank; when it fails with a :class:`PreimageError` on any rank, every rank
    raises that error (the lowest failing rank's), marked ``shared``, so that no rank waits for one
    that is gone and the command prints its one line once (rank 0's)."""
    if world <= 1:
        return fn()
    try:
        value, failed = fn(), None
    except PreimageError as exc:
        value, failed = None, (type(exc).__name__, str(exc))
    first = next((f for f in gather(failed, world) if f is not None), None)
    if first is not None:
        kind = getattr(errors, first[0], PreimageError)
        err = kind(first[1]) if isinstance(kind, type) and issubclass(kind, PreimageError) else PreimageError(first[1])
        err.shared = True
        raise err
    return value


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


# ---------------------------------------------------------------- the loop
#: A batch: a tuple whose first element holds the batch's images (its ``len`` is the batch size) and
#: whose last is the seconds its decoding took (what :func:`preimage.data.crop_batches` and the
#: classifier's loader yield).
Batch = Tuple[Any, ...]
#: ``(first, stop)`` -> the batches of steps ``first`` ... ``stop - 1``, in order (closed when done).
BatchSource = Callable[[int, int], Generator[Batch, None, None]]
#: ``(module, batch)`` -> the loss of that batch: the trainer's forward pass (and its own running
#: statistics); ``module`` is the one to call (wrapped for DistributedDataParallel under torchrun).
StepFn = Callable[[torch.nn.Module, Batch], torch.Tensor]


def _silent(message: str) -> None:
    pass


class Trainer:
    """One training run: made before the data are listed (a process started by ``torchrun`` joins
    the process group here; ``rank`` and ``world`` say which share of the data is its own), then
    :meth:`fit` runs the loop with the trainer's own step, then :meth:`checksums` and, once rank 0
    has written its files, :meth:`finish`.

    Only rank 0 logs (``say``), shows progress (``show``) and writes checkpoints. After :meth:`fit`:
    ``history`` (the evaluation records, those of earlier sessions of a resumed run included),
    ``elapsed`` (seconds of training, all sessions), ``first_step`` (seconds from this object's
    making to the end of the first step) and ``rate`` (the :class:`Throughput`).
    """

    def __init__(self, log: Callable[[str], None] = print, show: Optional[bool] = None, workers: int = 0) -> None:
        self.began = time.perf_counter()
        self.rank, self.world, self._created = distributed()
        self.lead = self.rank == 0
        self.say: Callable[[str], None] = log if self.lead else _silent
        self.show: Optional[bool] = show if self.lead else False
        self.workers = workers
        self.rate = Throughput(workers)
        self.start = 0
        self.history: List[Dict[str, Any]] = []
        self.elapsed = 0.0
        self.first_step: Optional[float] = None
        self._t0: Optional[float] = None
        self._lap = 0.0

    def seconds(self) -> float:
        """Seconds of training so far, earlier sessions of a resumed run included."""
        return self.elapsed + (time.time() - self._t0 if self._t0 is not None else 0.0)

    def lap(self) -> float:
        """Seconds of training since the last call (or since :meth:`fit` began)."""
        now = self.seconds()
        dt, self._lap = now - self._lap, now
        return dt

    def fit(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, step_fn: StepFn, batches: BatchSource,
            schedule: Callable[[int], float], total: int, checkpoint: Checkpoint, *, name: str = "model",
            resume: bool = False, end: Optional[int] = None, epoch_steps: Optional[int] = None,
            checkpoint_every: Optional[int] = None, evaluate: Optional[Callable[[int], Dict[str, Any]]] = None,
            evaluate_every: Optional[int] = None, epoch_end: Optional[Callable[[int], None]] = None,
            postfix: Optional[Callable[[], Dict[str, str]]] = None, keep_rng: bool = False,
            desc: str = "training") -> None:
        """Train ``module`` with ``optimizer`` for steps ``start`` ... ``end - 1`` of a ``total``-step schedule.

        Each step: the learning rate ``schedule(step)`` into every parameter group, ``loss =
        step_fn(net, batch)``, :func:`check_finite`, ``zero_grad``, ``backward``, ``optimizer.step``,
        the progress bar's ``postfix()`` and throughput. After the step, when due, ``module``'s
        weights are checked and then ``evaluate(steps done)`` (every ``evaluate_every`` steps and
        after the last: its record joins ``history``), then rank 0 checkpoints (every
        ``checkpoint_every`` steps, after the last, and after step ``end`` when that stops the run
        early): ``{name: weights, "optimizer", ["torch_rng"], "step" | "epoch", "history", "elapsed"}``.

        ``resume`` restores module, optimizer (and with ``keep_rng`` torch's global random state)
        from ``checkpoint`` and continues where it stopped. ``epoch_steps``: train in epochs of that
        many steps, each with its own batch source and progress bar (``epoch i/n``, in batches), a
        checkpoint (and by default an evaluation) at its end and then ``epoch_end(epochs done)``;
        the checkpoint records the epoch. Otherwise one progress bar ``desc`` (in steps) and one
        batch source for the whole run, the checkpoint recording the step.
        """
        end = total if end is None else end
        if epoch_steps and end % epoch_steps:
            raise ValueError(f"a run in epochs of {epoch_steps} steps cannot stop after step {end}")
        unit, per = ("epoch", epoch_steps) if epoch_steps else ("step", 1)
        if resume:
            ck = checkpoint.load()
            module.load_state_dict(ck[name])
            optimizer.load_state_dict(ck["optimizer"])
            if keep_rng:
                torch.set_rng_state(ck["torch_rng"])
            self.start, self.history, self.elapsed = int(ck[unit]) * per, json.loads(ck["history"]), float(ck["elapsed"])
            self.say(f"resumed from {checkpoint.path} at {unit} {int(ck[unit])}")
        net: torch.nn.Module = DistributedDataParallel(module) if self.world > 1 else module
        net.train()
        ckpt_every = epoch_steps or checkpoint_every or total
        eval_every = evaluate_every or ckpt_every
        if epoch_steps:
            spans = [range(s, min(s + epoch_steps, end)) for s in range(self.start, end, epoch_steps)]
        else:
            spans = [range(self.start, end)]
        self.rate = rate = Throughput(self.workers)
        self._t0, self._lap = time.time(), self.elapsed
        for span in spans:
            if epoch_steps:
                bar = progress.bar(total=epoch_steps, desc=f"epoch {span.start // epoch_steps + 1}/{total // epoch_steps}",
                                   show=self.show, unit="batch")
            else:
                bar = progress.bar(total=total - self.start, desc=desc, show=self.show, unit="step")
            source = batches(span.start, span.stop)
            for step, batch in zip(span, source):
                rate.loaded(len(batch[0]), batch[-1])
                lr = schedule(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss = step_fn(net, batch)
                check_finite(loss.detach(), step, lr)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if self.first_step is None:
                    self.first_step = time.perf_counter() - self.began
                bar.update(1)
                bar.set_postfix(**(postfix() if postfix is not None else {}), **rate.postfix())
                done = step + 1
                last = done == total
                due_eval = evaluate is not None and (done % eval_every == 0 or last)
                due_ckpt = self.lead and (done % ckpt_every == 0 or last or done == end)
                if due_eval or due_ckpt:
                    check_finite(loss.detach(), step, lr, module)
                if due_eval and evaluate is not None:
                    self.history.append(evaluate(done))
                if due_ckpt:
                    state: Dict[str, Any] = {name: module.state_dict(), "optimizer": optimizer.state_dict()}
                    if keep_rng:
                        state["torch_rng"] = torch.get_rng_state()
                    state[unit] = done // per
                    state["history"], state["elapsed"] = json.dumps(self.history), self.seconds()
                    checkpoint.save(state)
                rate.stepped(len(batch[0]))
            source.close()  # ends the decoding processes
            bar.close()
            if epoch_steps and epoch_end is not None:
                epoch_end(span.stop // epoch_steps)
        self.elapsed, self._t0 = self.seconds(), None

    def checksums(self, module: torch.nn.Module) -> List[float]:
        """Every rank's :func:`param_checksum` of ``module``, in rank order (equal when in sync)."""
        return gather(param_checksum(module), self.world)

    def finish(self) -> None:
        """Wait for every rank, then leave the process group this run joined."""
        finish_distributed(self.world, self._created)
