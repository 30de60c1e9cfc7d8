"""What the peft adapters (SPEC §2.4: lora, dora, pissa, oft) share: injection with peft, steering by a signed
coefficient c (c = 0 switches the adapter off: the original model), merging. Each method is its own file and class;
they differ only in the peft config they inject and in what happens to each injected layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from omegaconf import MISSING
from torch import nn

from steerlab.fields import ranged
from steerlab.methods.trained import TrainedMethod

if TYPE_CHECKING:  # peft is imported where an adapter is built: a launch that stops at a bad value never pays for it
    from peft import LoraConfig
    from peft.tuners.tuners_utils import BaseTunerLayer

ADAPTER = "steer"


@dataclass
class LoraFamilyConfig:
    """Shared by lora, dora and pissa."""

    name: str = MISSING
    r: int = ranged(32, ">=1")  # LoRA rank
    alpha: float = ranged(32.0, ">0")  # lora_alpha; scaling = alpha / r


def unit_scale(layer) -> float:
    """LoRA scaling at c = 1 (alpha / r)."""
    return layer.lora_alpha[ADAPTER] / layer.r[ADAPTER]


class PeftMethod(TrainedMethod):
    """Subclasses give `peft_config`; they may override `adopt` (each injected layer), `scale_layer`, `unmerge_extra`."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.layers: dict[str, BaseTunerLayer] = {}
        self.box = {"coeff": 0.0}  # the applied coefficient, read at forward time where peft has no scale of its own

    def peft_config(self, names: list[str]):
        raise NotImplementedError

    def before_inject(self, targets: dict) -> None:
        """Called with the targets (key -> (parent, attribute, Linear)) before peft replaces them."""

    def adopt(self, key: str, layer: BaseTunerLayer) -> None:
        """Called for each layer peft injected."""

    def scale_layer(self, layer: BaseTunerLayer, coeff: float) -> None:
        layer.set_scale(ADAPTER, coeff)  # scaling = c · alpha / r

    def merge_extra(self, key: str, layer: BaseTunerLayer, base: nn.Linear, coeff: float) -> None:
        """After peft merged `layer` into `base` at `coeff`."""

    def attach(self, model, generator, stats) -> None:
        from peft import inject_adapter_in_model

        targets = self.targets(model)
        names = {id(lin): full for full, lin in model.named_modules()}
        self.before_inject(targets)
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))  # peft draws from the global RNG
        inject_adapter_in_model(self.peft_config([names[id(lin)] for _, _, lin in targets.values()]), model, adapter_name=ADAPTER)
        for key, (parent, attr, _) in targets.items():
            self.layers[key] = getattr(parent, attr)
            self.adopt(key, self.layers[key])
        self.set_coeff(0.0)

    def trainable(self):
        return {f"{k}.{n}": p for k, layer in self.layers.items() for n, p in layer.named_parameters() if ADAPTER in n.split(".")}

    def set_coeff(self, coeff: float) -> None:
        self.box["coeff"] = coeff
        for layer in self.layers.values():
            layer._disable_adapters = coeff == 0  # peft's enable_adapters() would also flip requires_grad
            self.scale_layer(layer, coeff)

    @torch.no_grad()
    def merge(self, model, coeff: float) -> None:
        self.ensure_attached(model)
        self._pending = {k: t.clone().cpu() for k, t in self.state().items()}
        self.set_coeff(coeff)
        targets = self.targets(model)
        for key, layer in self.layers.items():
            parent, attr, base = targets[key]
            layer.merge()
            self.merge_extra(key, layer, base, coeff)
            setattr(parent, attr, base)
        self.layers, self.model = {}, None


class LoraFamilyMethod(PeftMethod):
    """lora, dora and pissa: one peft LoraConfig, told apart by two class attributes."""

    use_dora: ClassVar[bool] = False
    init_weights: ClassVar[bool | str] = True  # peft's init_lora_weights ("pissa": PiSSA initialisation)

    def peft_config(self, names: list[str]) -> LoraConfig:
        from peft import LoraConfig

        return LoraConfig(
            r=self.cfg.r,
            lora_alpha=self.cfg.alpha,
            target_modules=names,
            lora_dropout=0.0,
            use_dora=self.use_dora,
            init_lora_weights=self.init_weights,
        )
