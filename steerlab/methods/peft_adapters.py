"""peft adapters (SPEC §2.4) steered by a signed coefficient c; c = 0 switches the adapter off (the original model).

- lora, dora: peft's `set_scale(c)` (scaling = c · alpha / r). DoRA's learned magnitude applies at every c != 0.
- pissa: peft's PiSSA initialisation rewrites W into W_res + B₀A₀. We put W back and steer by the change from
  the initial adapter, y = W x + c · s · (BA − B₀A₀) x, so c = 1 is the trained PiSSA model and c = 0 the original.
- oft: the Cayley generator Q is scaled by c (exact Cayley, so c = −1 is the inverse rotation).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import MISSING
from peft import LoraConfig, OFTConfig, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from torch.nn.utils import parametrize

from steerlab.methods.trained import TrainedMethod

ADAPTER = "steer"


@dataclass
class PeftAdapterConfig:
    name: str = MISSING
    r: int = 32  # LoRA rank (lora, dora, pissa)
    alpha: float = 32.0  # lora_alpha; scaling = alpha / r
    block_size: int = 32  # oft block size


class Scaled(nn.Module):
    """Parametrization: weight → c · weight, with c read from the method at forward time."""

    def __init__(self, box: dict):
        super().__init__()
        self.box = box

    def forward(self, w):
        return w * self.box["coeff"]


def unit_scale(layer) -> float:
    """LoRA scaling at c = 1 (alpha / r), the factor of the PiSSA initial-adapter offset."""
    return layer.lora_alpha[ADAPTER] / layer.r[ADAPTER]


class PeftMethod(TrainedMethod):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.layers: dict[str, BaseTunerLayer] = {}
        self.initial: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # pissa: (A₀, B₀)
        self.box = {"coeff": 0.0}
        self.name = cfg.name

    def peft_config(self, names: list[str]):
        c = self.cfg
        if c.name == "oft":
            return OFTConfig(r=0, oft_block_size=c.block_size, target_modules=names, use_cayley_neumann=False, module_dropout=0.0)
        init = "pissa" if c.name == "pissa" else True
        return LoraConfig(r=c.r, lora_alpha=c.alpha, target_modules=names, lora_dropout=0.0, use_dora=c.name == "dora", init_lora_weights=init)

    def attach(self, model, generator, stats) -> None:
        targets = self.targets(model)
        names = {id(lin): full for full, lin in model.named_modules()}
        original = {key: lin.weight.detach().clone() for key, (_, _, lin) in targets.items()} if self.cfg.name == "pissa" else {}
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))  # peft draws from the global RNG
        inject_adapter_in_model(self.peft_config([names[id(lin)] for _, _, lin in targets.values()]), model, adapter_name=ADAPTER)
        for key, (parent, attr, _) in targets.items():
            layer = getattr(parent, attr)
            self.layers[key] = layer
            if self.cfg.name == "oft":
                parametrize.register_parametrization(layer.oft_R[ADAPTER], "weight", Scaled(self.box))
            if self.cfg.name == "pissa":
                self.initial[key] = (layer.lora_A[ADAPTER].weight.detach().clone(), layer.lora_B[ADAPTER].weight.detach().clone())
                layer.get_base_layer().weight.data.copy_(original[key])
                layer.register_forward_hook(self._pissa_offset(key))
        self.set_coeff(0.0)

    def _pissa_offset(self, key: str):
        def hook(layer, args, output):
            if self.box["coeff"] == 0:
                return None
            a0, b0 = self.initial[key]
            s = self.box["coeff"] * unit_scale(layer)
            return output - s * ((args[0].to(a0.dtype) @ a0.T) @ b0.T).to(output.dtype)

        return hook

    def trainable(self):
        return {f"{k}.{n}": p for k, layer in self.layers.items() for n, p in layer.named_parameters() if ADAPTER in n.split(".")}

    def buffers(self):
        return {f"{k}.{w}0": t for k, (a0, b0) in self.initial.items() for w, t in (("A", a0), ("B", b0))}

    def load_state(self, tensors):
        super().load_state(tensors)
        self.initial = {k: (tensors.get(f"{k}.A0", a0), tensors.get(f"{k}.B0", b0)) for k, (a0, b0) in self.initial.items()}

    def set_coeff(self, coeff: float) -> None:
        self.box["coeff"] = coeff
        for layer in self.layers.values():
            layer._disable_adapters = coeff == 0  # peft's enable_adapters() would also flip requires_grad
            if self.cfg.name != "oft":
                layer.set_scale(ADAPTER, coeff)

    @torch.no_grad()
    def merge(self, model, coeff: float) -> None:
        self.ensure_attached(model)
        self._pending = {k: t.clone().cpu() for k, t in self.state().items()}
        self.set_coeff(coeff)
        targets = self.targets(model)
        for key, layer in self.layers.items():
            parent, attr, base = targets[key]
            layer.merge()
            if key in self.initial:
                a0, b0 = self.initial[key]
                base.weight -= coeff * unit_scale(layer) * (b0 @ a0).to(base.weight.dtype)
            setattr(parent, attr, base)
        self.layers, self.initial, self.model = {}, {}, None
