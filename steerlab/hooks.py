"""Forward hooks as context managers: they always remove themselves, so the model is restored exactly."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator

import torch
from torch import nn


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replace(output, hidden):
    return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def hooked(handles_fn: Callable[[], list]) -> Iterator[None]:
    """Register hooks via `handles_fn`, remove them all on exit (also on error)."""
    handles = handles_fn()
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def track_mask(model: nn.Module) -> Iterator[dict]:
    """Keep the attention mask of the current forward call, so hooks can skip pad positions."""
    box: dict = {}

    def grab(_module, args, kwargs):
        box["mask"] = kwargs.get("attention_mask")

    with hooked(lambda: [model.register_forward_pre_hook(grab, with_kwargs=True)]):
        yield box


def _masked(delta: torch.Tensor, hidden: torch.Tensor, box: dict) -> torch.Tensor:
    mask = box.get("mask")
    if mask is not None and mask.dim() == 2 and tuple(mask.shape) == tuple(hidden.shape[:2]):
        return delta * mask[..., None].to(hidden.device, hidden.dtype)  # [batch, tokens, 1]; the mask lives on the first layer's device
    return delta


@contextmanager
def add_to_outputs(model: nn.Module, modules: dict, delta_fns: dict) -> Iterator[None]:
    """Add `delta_fns[k](x, y)` to the output `y` of `modules[k]` (input `x`) at every non-pad position."""
    with ExitStack() as stack:
        box = stack.enter_context(track_mask(model))

        def make(fn):
            def hook(_module, args, output):
                y = _hidden(output)
                return _replace(output, y + _masked(fn(args[0], y), y, box))

            return hook

        stack.enter_context(hooked(lambda: [modules[k].register_forward_hook(make(fn)) for k, fn in delta_fns.items()]))
        yield


@contextmanager
def add_vectors(model: nn.Module, layers: nn.ModuleList, vectors: dict[int, torch.Tensor], coeff: float) -> Iterator[None]:
    """Add `coeff * vectors[l]` to the residual stream after decoder layer `l`. `coeff == 0` registers nothing."""
    if coeff == 0 or not vectors:
        yield
        return
    fns = {l: _adder(v, coeff) for l, v in vectors.items()}
    with add_to_outputs(model, {l: layers[l] for l in vectors}, fns):
        yield


def _adder(v: torch.Tensor, coeff: float):
    """The output hook's addend: `coeff * v` on the output's device and dtype."""
    return lambda x, y: coeff * v.to(y.device, y.dtype)


class _Stop(Exception):
    """Ends a forward pass from a hook once what it needs has been computed."""


@contextmanager
def capture_outputs(modules: dict, stop: bool = False) -> Iterator[dict]:
    """Record the output hidden states of `modules[k]` (and its input under `(k, 'in')`) for the next forward.

    With `stop`, the pass ends once every module has run (`run_captured`): the layers above and the LM head never
    run, which changes nothing that was captured."""
    store: dict = {}

    def make(key):
        def hook(_module, args, output):
            store[key] = _hidden(output)
            store[(key, "in")] = args[0] if args else None
            if stop and all(k in store for k in modules):
                raise _Stop

        return hook

    with hooked(lambda: [m.register_forward_hook(make(k)) for k, m in modules.items()]):
        yield store


def run_captured(model: nn.Module, store: dict, **inputs) -> None:
    """One forward pass for a `capture_outputs(..., stop=True)` store (cleared first)."""
    store.clear()
    try:
        model(**inputs)
    except _Stop:
        pass


@contextmanager
def map_outputs(modules: dict, fns: dict) -> Iterator[None]:
    """Replace the output hidden state `y` of `modules[k]` by `fns[k](y)` at every position (pads included)."""

    def make(fn):
        def hook(_module, args, output):
            return _replace(output, fn(_hidden(output)))

        return hook

    with hooked(lambda: [modules[k].register_forward_hook(make(fn)) for k, fn in fns.items()]):
        yield


def output_of(model: nn.Module, module: nn.Module, **inputs) -> torch.Tensor:
    """The output hidden state of `module` for `model(**inputs)`; the forward stops there (later layers never run)."""
    store: dict = {}

    def hook(_module, args, output):
        store["h"] = _hidden(output)
        raise _Stop

    with hooked(lambda: [module.register_forward_hook(hook)]):
        try:
            model(**inputs)
        except _Stop:
            pass
    return store["h"]
