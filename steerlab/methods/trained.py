"""Base of trained adapters: `fit` attaches a fresh adapter, steerlab.train trains it (steerlab.fitting runs both), steer by
setting coeff at run time."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import torch
from torch import nn

from steerlab.activations import pair_states
from steerlab.errors import ConfigError
from steerlab.layers import base_linear
from steerlab.methods.base import Method

if TYPE_CHECKING:
    from steerlab.context import FitContext


class TrainedMethod(Method):
    """Subclasses implement attach / trainable / set_coeff / merge; the rest (fit, apply, save, load) is shared."""

    is_trained = True
    cannot_export = (
        "it is a trained weight adapter, not a residual vector: fold it into the weights with "
        "steerlab.api.merge(model, method, coeff) and save the model instead"
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        self.model = None  # the model the adapter is attached to
        self._pending: dict | None = None  # tensors loaded from disk, put in place on first apply

    # --- what subclasses implement -------------------------------------------------------
    def attach(self, model, generator: torch.Generator, stats: dict | None) -> None:
        raise NotImplementedError

    def trainable(self) -> dict[str, nn.Parameter]:
        """Adapter parameters by stable name (also the checkpoint keys)."""
        raise NotImplementedError

    def set_coeff(self, coeff: float) -> None:
        raise NotImplementedError

    def merge(self, model, coeff: float) -> None:
        """Fold the adapter at coefficient `coeff` into the weights and remove it (the model is no longer steerable)."""
        raise NotImplementedError

    def needs_stats(self) -> bool:
        """True if `attach` wants module input states of training pairs (data-aware initialisation)."""
        return False

    def buffers(self) -> dict[str, torch.Tensor]:
        """Non-trainable adapter tensors that must be saved with the parameters."""
        return {}

    # --- shared -------------------------------------------------------------------------
    def targets(self, model) -> dict[str, tuple[nn.Module, str, nn.Linear]]:
        """{"layer.module": (parent, attribute, Linear)} for every targeted Linear (the original one, if wrapped)."""
        found = {}
        for key, (layer, qual, lin) in self.placement.linears(model).items():
            parent_name, _, attr = qual.rpartition(".")
            found[key] = (layer.get_submodule(parent_name) if parent_name else layer, attr, base_linear(lin))
        return found

    def check_layers(self, steer_layers: list[int], loss_layers: list[int]) -> None:
        top = max(loss_layers)
        bad = [l for l in steer_layers if l >= top]
        if bad:
            raise ConfigError(
                f"adapter layers {bad} are at or above the loss layer {top}: they get no gradient from the loss "
                f"(set layers.end below {top}, or leave it null)"
            )

    def fit(self, ctx: FitContext) -> None:
        """Attach a freshly initialised adapter (seeded by ctx.seed) and freeze everything else; steerlab.train trains it."""
        self.check_layers(ctx.steer_layers, ctx.loss_layers)
        super().fit(ctx)
        stats = self.input_stats(ctx) if self.needs_stats() else None
        self.attach(ctx.model, torch.Generator().manual_seed(ctx.seed), stats)
        self.model = ctx.model
        self.freeze(ctx.model)

    def freeze(self, model) -> None:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in self.trainable().values():
            p.requires_grad_(True)

    def input_stats(self, ctx: FitContext) -> dict:
        """{(key, 'pos'|'neg'): [n_pairs, d_in]} last-token inputs of each targeted Linear on training pairs."""
        mods = {key: lin for key, (_, _, lin) in self.targets(ctx.model).items()}
        pos, neg = pair_states(ctx.model, ctx.tok, ctx.train, mods, ctx.batch_size, ctx.readout_tokens, inputs=True)
        return {(k, "pos"): pos[(k, "in")] for k in mods} | {(k, "neg"): neg[(k, "in")] for k in mods}

    def ensure_attached(self, model) -> None:
        if self.model is model:
            return
        if self.model is not None:
            raise ConfigError(f"this {self.name} adapter is attached to another model; load it again for a new model")
        self.attach(model, torch.Generator().manual_seed(0), None)
        self.model = model
        self.load_state(self._pending or {})
        self.freeze(model)
        self._pending = None

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        self.ensure_attached(model)
        self.set_coeff(float(coeff))
        try:
            yield
        finally:
            self.set_coeff(0.0)

    def state(self) -> dict[str, torch.Tensor]:
        return {**{k: p.detach() for k, p in self.trainable().items()}, **self.buffers()}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        own = {**self.trainable(), **self.buffers()}
        missing = sorted(set(own) - set(tensors))
        if tensors and missing:
            raise ConfigError(f"saved {self.name} adapter lacks tensors {missing[:3]}…; was it saved for other layers or modules?")
        with torch.no_grad():
            for k, t in tensors.items():
                own[k].copy_(t.to(own[k].device, own[k].dtype))

    def tensors(self) -> dict[str, torch.Tensor]:
        return {k: t.contiguous().cpu() for k, t in self.state().items()} if self.model is not None else dict(self._pending or {})

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._pending = dict(tensors)
