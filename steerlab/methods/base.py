"""The one interface every steering method implements: fit on pairs, then steer with a signed coefficient.

What a method *is* (trainable, has a residual direction, can be a llama.cpp control vector) is stated by class
attributes, so no code outside the registry branches on a method's name.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Iterator

import torch

from steerlab.errors import ConfigError
from steerlab.layers import Placement
from steerlab.registry import Registry

if TYPE_CHECKING:
    from steerlab.context import FitContext


METHODS = Registry("method", {})  # name -> (config dataclass, class); filled by @registered (steerlab.methods.registry)


def registered(config: type):
    """Class decorator: register a method under its `name` with its config dataclass. A new method is its own file
    (this decorator on its class) and its conf/adapter/<name>.yaml; steerlab.methods.registry imports every module."""

    def add(cls):
        if cls.name in METHODS:
            raise ConfigError(f"two methods are named {cls.name!r}: {METHODS[cls.name][1].__module__} and {cls.__module__}")
        METHODS[cls.name] = (config, cls)
        return cls

    return add


class Method:
    """Base method: no change to the model or the prompt. Subclasses override what they need."""

    name: ClassVar[str] = "base"
    scalable: ClassVar[bool] = True  # False: the method has no continuous dose (prompting); strength keeps scale 1
    is_trained: ClassVar[bool] = False  # True: trained by steerlab.train after `fit` attaches it (trained adapters)
    has_direction: ClassVar[bool] = True  # a residual-stream direction per steered layer (analysis=alignment uses it)
    ablation_source: ClassVar[bool] = False  # adapter=ablate can take its direction from this method (`adapter.source`)
    cannot_export: ClassVar[str] = "it does not add a fixed vector to the residual stream"  # why no control vector ("" = it can be one)
    saved: ClassVar[tuple[str, ...]] = ()  # plain attributes (JSON) that method.json keeps, besides tensors and placement

    def __init__(self, cfg):
        self.cfg = cfg
        self.sign = 1.0  # set by sign calibration (SPEC §4)
        self.scale = 1.0  # set by strength calibration (SPEC §8); `steering.applied` maps c to c · sign · scale
        self.placement: Placement | None = None  # where the fitted method acts (set by `fit`)
        self.meta: dict = {}  # what fitting measured, recorded in method.json (never read back to steer)

    def decoder(self, model):
        """The model's decoder layers, found where the placement says (generically when the method was never fitted)."""
        return (self.placement or Placement([], [], 0)).decoder(model)

    def fit(self, ctx: FitContext) -> None:
        """Learn whatever the method needs from training pairs (trained adapters: attach a fresh adapter)."""
        self.placement = ctx.placement

    @contextmanager
    def apply(self, model, coeff: float) -> Iterator[None]:
        """Steer `model` by the *applied* coefficient (after sign and scale) inside the block; restore it exactly on exit.

        Callers go through `steerlab.steering.steer(model, method, coeff)`, which does the mapping; only the
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

    rank_field: str | None = None  # a config field the adapted matrices' rank bounds (an SVD has no more components)

    def check_shapes(self, shapes: dict[str, tuple[int, ...]]) -> None:
        """Raise ConfigError if the method cannot work on Linear weights of these shapes ({"layer.module": shape}), read
        from the model's skeleton before any weight is loaded."""
        if self.rank_field is None or not shapes:
            return
        rank, where = min((min(shape), name) for name, shape in shapes.items())
        value = getattr(self.cfg, self.rank_field)
        if value > rank:
            shape = "×".join(map(str, shapes[where]))
            raise ConfigError(
                f"adapter.{self.rank_field}={value} exceeds the rank of the adapted matrices (layer.module {where} is {shape}, "
                f"rank {rank}); use adapter.{self.rank_field} <= {rank}"
            )

    def tensors(self) -> dict[str, torch.Tensor]:
        return {}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore state from `tensors()` output (with placement and `saved` attributes already restored)."""
