"""The federated-learning client: what it computes from its private batch and sends to the server.

A :class:`Client` holds the network (a :class:`~preimage.models.classifier.Classifier`: [0, 1] images
in, the model's normalization inside) and computes, from a batch of ``B`` private images and their
labels, the **shared update** a server receives:

* ``local_steps = 1`` (FedSGD): the gradient of the mean cross-entropy over the batch with respect
  to every parameter of the network;
* ``local_steps = S > 1`` (FedAvg): the weight difference ``theta_S - theta_0`` after ``S`` steps of
  full-batch SGD on the same batch at ``local_lr``.

The same function, with ``create_graph=True``, is what the attacker differentiates through (the
double backward of the attacks), so the client and the attacker compute exactly the same thing.

BatchNorm. ``bn="eval"`` (default) normalizes with the running statistics, as in the experiments of
Geiping et al.; ``bn="train"`` normalizes each batch by its own statistics, as a client training
would, without updating the running statistics (the model is left as it was). Every other module
(dropout) stays in evaluation mode. The attacker uses the same mode on its dummy batch.

Per-example gradients (for DP-SGD): :class:`PerExample` uses **opacus**'s ``GradSampleModule`` where
opacus is installed and accepts the network (it refuses BatchNorm), else ``torch.func``
(``vmap`` of ``grad``); the record names which.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from ...errors import ConfigError
from ...models.classifier import Classifier
from ...models.info import ModelInfo


def _opacus():
    """opacus's module, ``GradSampleModule`` and ``ModuleValidator``, or None where it is not installed.
    Imported here, on first use, not with the package: it is optional (`pip install preimage[gradients]`)
    and takes over a second to import, which every command would otherwise pay at start."""
    try:
        import opacus
        from opacus.grad_sample import GradSampleModule
        from opacus.validators import ModuleValidator
    except ImportError:  # pragma: no cover - exercised where opacus is absent
        return None
    return opacus, GradSampleModule, ModuleValidator

BN_MODES = ("eval", "train")

Grads = List[torch.Tensor]


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@contextmanager
def bn_mode(module: nn.Module, mode: str) -> Iterator[None]:
    """BatchNorm modules in ``mode`` ("eval": running statistics; "train": the batch's own, running
    statistics not updated) for the block; restored on exit."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.track_running_stats) for m in bns]
    for m in bns:
        m.training = mode == "train"
        if mode == "train":
            m.track_running_stats = False  # F.batch_norm then gets no running buffers: nothing is updated
    try:
        yield
    finally:
        for m, (training, track) in zip(bns, saved):
            m.training, m.track_running_stats = training, track


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy with class indices (long) or per-class probabilities (float, DLG's soft labels)."""
    if y.dtype.is_floating_point:
        per = -(y * F.log_softmax(logits, 1)).sum(1)
        return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per
    return F.cross_entropy(logits, y, reduction=reduction)


@dataclass(frozen=True)
class Head:
    """The last layer's weight (one row per class) and bias, as indices into :attr:`Client.params`."""

    weight: int
    bias: Optional[int]
    name: str


class Client:
    """A client of federated learning around ``info``'s network (see the module)."""

    def __init__(self, info: ModelInfo, bn: str = "eval", local_steps: int = 1, local_lr: float = 1e-4):
        if bn not in BN_MODES:
            raise ConfigError(f"--bn must be one of {', '.join(BN_MODES)}, got {bn!r}")
        if local_steps < 1:
            raise ConfigError(f"--local-steps must be at least 1, got {local_steps}")
        if not local_lr > 0:
            raise ConfigError(f"--local-lr must be positive, got {local_lr}")
        self.info = info
        self.net = Classifier.from_info(info)
        named = [(n, p) for n, p in self.net.named_parameters() if p.requires_grad]
        if not named:
            raise ConfigError(f"{info.name} has no trainable parameters: a client would have no gradient to share")
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.bn, self.local_steps, self.local_lr = bn, int(local_steps), float(local_lr)
        self.batchnorm = has_batchnorm(info.module)
        self.mode = "gradient" if self.local_steps == 1 else "update"
        self._head: Optional[Head] = None

    # ------------------------------------------------------------ the forward pass and the gradient
    def forward(self, x: torch.Tensor, params: Optional[Sequence[torch.Tensor]] = None) -> torch.Tensor:
        if not self.batchnorm:  # the attack's inner loop: no mode to set
            return self.net(x) if params is None else functional_call(self.net, dict(zip(self.names, params)), (x,))
        with bn_mode(self.net, self.bn):
            if params is None:
                return self.net(x)
            return functional_call(self.net, dict(zip(self.names, params)), (x,))

    def gradient(self, x: torch.Tensor, y: torch.Tensor, params: Optional[Sequence[torch.Tensor]] = None,
                 create_graph: bool = False) -> Grads:
        """The gradient of the mean cross-entropy of ``(x, y)`` at ``params`` (default: the network's)."""
        ps = self.params if params is None else list(params)
        loss = cross_entropy(self.forward(x, params), y)
        return list(torch.autograd.grad(loss, ps, create_graph=create_graph))

    def shared(self, x: torch.Tensor, y: torch.Tensor, create_graph: bool = False,
               step: Optional[Callable[[torch.Tensor, torch.Tensor, Sequence[torch.Tensor], int], Grads]] = None) -> Grads:
        """What the client sends for the batch ``(x, y)``: the gradient (one local step) or the weight
        difference after :attr:`local_steps` SGD steps. ``step(x, y, params, s)`` replaces the gradient
        of step ``s`` (DP-SGD's privatized gradient); ``create_graph`` keeps the graph (the attacker's)."""
        if self.local_steps == 1 and step is None:
            return self.gradient(x, y, create_graph=create_graph)
        theta: List[torch.Tensor] = list(self.params)
        for s in range(self.local_steps):
            g = step(x, y, theta, s) if step is not None else self.gradient(x, y, theta, create_graph)
            if self.local_steps == 1:
                return g
            if create_graph:
                theta = [t - self.local_lr * gi for t, gi in zip(theta, g)]
            else:
                theta = [(t - self.local_lr * gi).detach().requires_grad_() for t, gi in zip(theta, g)]
        return [(t - p) if create_graph else (t - p).detach() for t, p in zip(theta, self.params)]

    # ------------------------------------------------------------ the last layer (label recovery)
    def classes(self) -> int:
        """The number of outputs (one forward pass of a gray image)."""
        size = self.info.input_size
        with torch.no_grad():
            out = self.forward(torch.full((1, 3, size, size), 0.5, device=self.params[0].device))
        if out.dim() != 2:
            raise ConfigError(f"{self.info.name} returns an output of shape {tuple(out.shape)}, not one score per class")
        return int(out.shape[1])

    def head(self) -> Head:
        """The last layer: the last ``nn.Linear`` with one output per class, else the last parameter
        with one row per class (a 1x1 convolution head), and its bias where it has one."""
        if self._head is not None:
            return self._head
        k = self.classes()
        index = {n: i for i, n in enumerate(self.names)}
        found: Optional[Head] = None
        for name, m in self.net.named_modules():
            if isinstance(m, nn.Linear) and m.out_features == k and f"{name}.weight" in index:
                b = index.get(f"{name}.bias")
                found = Head(index[f"{name}.weight"], b, name)
        if found is None:
            for i, (n, p) in enumerate(zip(self.names, self.params)):
                if p.dim() >= 2 and p.shape[0] == k:
                    nxt = i + 1 if i + 1 < len(self.params) and tuple(self.params[i + 1].shape) == (k,) else None
                    found = Head(i, nxt, n.rsplit(".", 1)[0])
        if found is None:
            raise ConfigError(f"{self.info.name}: no last layer with one row per class ({k}) to read labels from; "
                              f"pass --labels true (the attacker is told the labels)")
        self._head = found
        return found


# ---------------------------------------------------------------- per-example gradients
class PerExample:
    """Per-example gradients of the mean loss's terms, ``(B, *shape)`` per parameter, at any
    parameters: opacus's ``GradSampleModule`` (on a copy of the network, so the network keeps no
    hooks) where opacus is installed and accepts the network, ``torch.func`` otherwise."""

    def __init__(self, net: nn.Module, names: Sequence[str], bn: str = "eval", prefer_opacus: bool = True):
        self.net, self.names, self.bn = net, list(names), bn
        if bn == "train" and has_batchnorm(net):
            raise ConfigError("DP-SGD needs per-example gradients, which BatchNorm in train mode does not have (it "
                              "mixes the batch); use --bn eval")
        self.copy: Optional[nn.Module] = None
        self.backend = "torch.func (vmap of grad)"
        found = _opacus() if prefer_opacus else None
        if found is not None and found[2].is_valid(net):
            opacus, GradSampleModule, _ = found
            self.copy = copy.deepcopy(net)
            for m in self.copy.modules():  # opacus records activations only of modules in training mode: those
                if any(True for _ in m.parameters(recurse=False)):  # with weights (dropout and the like stay in eval)
                    m.training = True
            self.gsm = GradSampleModule(self.copy, batch_first=True, loss_reduction="sum")
            own = dict(self.copy.named_parameters())
            self.copy_params = [own[n] for n in self.names]
            self.backend = f"opacus {opacus.__version__} GradSampleModule"

    def __call__(self, params: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> Grads:
        if self.copy is not None:
            with torch.no_grad():
                for p, v in zip(self.copy_params, params):
                    p.copy_(v)
            with bn_mode(self.copy, self.bn):
                loss = cross_entropy(self.gsm(x), y, reduction="sum")
            with warnings.catch_warnings():  # opacus's hooks fire on the outputs when the images need no gradient
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                loss.backward()
            out = []
            for p in self.copy_params:
                gs = getattr(p, "grad_sample", None)
                if gs is None:
                    raise ConfigError("opacus computed no per-example gradient for a parameter; this network needs "
                                      "the torch.func path (uninstall opacus or report the model)")
                out.append(gs.detach().clone())
            self.gsm.zero_grad(set_to_none=True)
            return out
        pdict: Dict[str, torch.Tensor] = {n: p.detach() for n, p in zip(self.names, params)}

        def one(ps, xi, yi):
            with bn_mode(self.net, self.bn):
                out = functional_call(self.net, ps, (xi[None],))
            return cross_entropy(out, yi[None])

        g = vmap(grad(one), in_dims=(None, 0, 0))(pdict, x, y)
        return [g[n].detach() for n in self.names]
