"""The one interface every steering method implements: fit on pairs, then steer with a signed coefficient."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import torch

from steerlab.data import Pair


@dataclass
class FitContext:
    """Everything a method may need to fit; built once by the run (or by hand in a notebook)."""

    model: Any
    tok: Any
    steer_layers: list[int]  # decoder layers a method writes to
    loss_layer: int  # read-out layer (calibration; loss of trained adapters)
    modules: list[str]  # Linear sub-module names targeted inside each layer
    train: list[Pair]
    val: list[Pair]
    personas: list[str]
    template: str
    layers_path: str | None = None
    batch_size: int = 16
    readout_tokens: int = 1
    seed: int = 0
    logger: Any = None
    loss_layers: list[int] | None = None  # trained adapters: all loss layers (None = [loss_layer])
    train_cfg: Any = None  # TrainConfig (None = defaults)
    loss_cfg: Any = None  # LossSpaceConfig (None = defaults)
    folder: Any = None  # run folder for checkpoints (None = no checkpoints)
    cache: dict = field(default_factory=dict)  # (key, 'pos'|'neg') -> [n_pairs, d]: states already extracted

    def layer_states(self, layers: list[int]) -> tuple[dict, dict]:
        """Unsteered last-token states of train pairs at decoder layers, extracted once per layer."""
        from steerlab.activations import pair_states
        from steerlab.layers import decoder_layers

        todo = [l for l in layers if (l, "pos") not in self.cache]
        if todo:
            mods = decoder_layers(self.model, self.layers_path)
            pos, neg = pair_states(self.model, self.tok, self.train, {l: mods[l] for l in todo}, self.batch_size, self.readout_tokens)
            self.cache.update({(l, "pos"): pos[l] for l in todo} | {(l, "neg"): neg[l] for l in todo})
        return {l: self.cache[(l, "pos")] for l in layers}, {l: self.cache[(l, "neg")] for l in layers}


class Method:
    """Base method: no change to the model or the prompt. Subclasses override what they need."""

    name: ClassVar[str] = "base"
    scalable: ClassVar[bool] = True  # False: the method has no continuous dose (prompting); strength keeps scale 1

    def __init__(self, cfg):
        self.cfg = cfg
        self.sign = 1.0  # set by sign calibration (SPEC §4)
        self.scale = 1.0  # set by strength calibration (SPEC §8); `applied()` maps c to c · sign · scale
        self.meta: dict = {}

    def fit(self, ctx: FitContext) -> None:
        """Learn whatever the method needs from training pairs."""

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        """Steer `model` by the *applied* coefficient (after sign and scale) inside the block; restore it exactly on exit.

        Callers go through `steerlab.methods.steer(model, method, coeff)`, which does the mapping; only the
        training loop calls `apply` directly, with the raw ±1 it trains at (before sign and scale exist).
        """
        yield

    def edit_prompt(self, text: str, coeff: float) -> str:
        """The user prompt as this method shows it at the applied `coeff` (prompting baselines override this)."""
        return text

    def check_coeffs(self, coeffs: list[float]) -> None:
        """Raise ConfigError if the method cannot run at some coefficient (called before any model work)."""

    def check_layers(self, steer_layers: list[int], loss_layers: list[int]) -> None:
        """Raise ConfigError if the method cannot work on these layers (called before any model work)."""

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore state from `tensors()` output (with `meta` already restored)."""
