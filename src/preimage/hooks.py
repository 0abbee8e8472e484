"""Hooks as context managers: attach to any set of modules, detach on exit (errors included).

``capture`` is how the package reads a network's inside::

    with capture(model, ["conv3", "fc6"], aliases) as cap:
        acts = cap(x)                  # {"conv3": tensor, "fc6": tensor}; nothing past fc6 runs

The model is left exactly as it was: the hooks are removed when the ``with`` block ends, however
it ends, and the model's train/eval flag is restored.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .errors import LayerError

Hook = Callable[[nn.Module, tuple, object], object]


class StopForward(Exception):
    """Raised by a hook to end a forward pass once everything needed has been computed."""


def first_tensor(out) -> Optional[torch.Tensor]:
    """The tensor a module returned (the first one, for tuples, lists and dicts)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, dict):
        for v in out.values():
            if isinstance(v, torch.Tensor):
                return v
    return None


def device_of(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module with neither)."""
    for p in module.parameters():
        return p.device
    for b in module.buffers():
        return b.device
    return torch.device("cpu")


@contextlib.contextmanager
def forward_hooks(pairs: Sequence[Tuple[nn.Module, Hook]]) -> Iterator[None]:
    """Register ``(module, hook)`` forward hooks for the duration of the block."""
    handles = []
    try:
        for m, hook in pairs:
            handles.append(m.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block; its own train/eval flags restored afterwards."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, f in flags.items():
            m.training = f


def model_aliases(model: nn.Module, aliases: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """``aliases`` if given, else the model's own ``preimage_aliases`` attribute (zoo models carry
    theirs), else none."""
    return dict(aliases if aliases is not None else getattr(model, "preimage_aliases", None) or {})


def resolve_module(model: nn.Module, layer: Union[str, nn.Module],
                   aliases: Optional[Dict[str, str]] = None) -> Tuple[str, nn.Module]:
    """(module path, module) for an alias, a module path or a module of ``model``."""
    named = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for n, m in named.items():
            if m is layer:
                return n, m
        raise LayerError(f"module {type(layer).__name__} is not part of the model")
    path = resolve_layer(model, layer, aliases)
    return path, named[path]


def resolve_layer(model: nn.Module, layer: str, aliases: Optional[Dict[str, str]] = None) -> str:
    """Alias or module path -> module path; unknown names fail listing the nearest valid ones."""
    aliases = aliases or {}
    paths = [n for n, _ in model.named_modules() if n]
    if layer in aliases:
        return aliases[layer]
    if layer in paths:
        return layer
    valid = list(aliases) + paths
    near = difflib.get_close_matches(layer, valid, n=5, cutoff=0.4)
    if not near:
        near = valid[:8]
    raise LayerError(f"unknown layer {layer!r}; nearest valid names: {', '.join(near)}"
                     f" ('preimage layers MODEL' lists all {len(valid)})")


class Capture:
    """Forward hooks that record the outputs of ``layers`` (see :func:`capture`)."""

    def __init__(self, model: nn.Module, layers: Sequence[Union[str, nn.Module]],
                 aliases: Optional[Dict[str, str]] = None, stop: bool = True, keep_all: bool = False):
        self.model = model
        self.keys: List[Union[str, nn.Module]] = list(layers)
        aliases = model_aliases(model, aliases)
        self.targets = [resolve_module(model, k, aliases) for k in self.keys]
        self.stop = stop
        self.keep_all = keep_all  # a module that runs several times: keep every output, not just the last
        self.outputs: Dict = {}
        self._stack: Optional[contextlib.ExitStack] = None

    def _hook(self, key):
        def hook(mod, inp, out):
            t = first_tensor(out)
            if self.keep_all:
                self.outputs.setdefault(key, []).append(t)
            else:
                self.outputs[key] = t
            if self.stop and len(self.outputs) == len(self.keys):
                raise StopForward
        return hook

    def __enter__(self) -> "Capture":
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(forward_hooks([(m, self._hook(k)) for k, (_, m) in zip(self.keys, self.targets)]))
        return self

    def __exit__(self, *exc) -> None:
        assert self._stack is not None
        self._stack.close()
        self._stack = None

    def __call__(self, *args, **kwargs) -> Dict:
        """Run the model; the captured outputs by the names they were asked for."""
        self.outputs = {}
        try:
            self.model(*args, **kwargs)
        except StopForward:
            pass
        missing = [str(k) for k in self.keys if k not in self.outputs]
        if missing:
            raise LayerError(f"layer(s) {', '.join(missing)} did not run in the model's forward pass")
        return dict(self.outputs)


def capture(model: nn.Module, layers: Sequence[Union[str, nn.Module]], aliases: Optional[Dict[str, str]] = None,
            stop: bool = True, keep_all: bool = False) -> Capture:
    """A context manager that hooks ``layers`` (aliases, module paths or modules) of ``model``
    (``aliases``: alias -> module path; default the model's ``preimage_aliases`` attribute).

    Inside the block, ``cap(x)`` runs the model and returns ``{layer: output}``; with ``stop=True``
    the forward pass ends as soon as every requested layer has produced its output.
    """
    return Capture(model, layers, aliases, stop, keep_all)


@contextlib.contextmanager
def replace_output(model: nn.Module, layer: Union[str, nn.Module], fn: Callable[[torch.Tensor], torch.Tensor],
                   aliases: Optional[Dict[str, str]] = None) -> Iterator[None]:
    """For the block, the output of ``layer`` is replaced by ``fn(output)`` and the rest of the
    network runs on that: ``with replace_output(net, "fc6", lambda f: f + noise): net(x)``.
    A module whose output is not one tensor is refused."""
    path, module = resolve_module(model, layer, model_aliases(model, aliases))

    def hook(mod, inp, out):
        if not isinstance(out, torch.Tensor):
            raise LayerError(f"layer {path} returns {type(out).__name__}, not one tensor; its output cannot be replaced")
        new = fn(out)
        if new.shape != out.shape:
            raise LayerError(f"the replacement for layer {path}'s output has shape {tuple(new.shape)}, "
                             f"not {tuple(out.shape)}")
        return new
    with forward_hooks([(module, hook)]):
        yield
