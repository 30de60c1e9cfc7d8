"""peft PiSSA (SPEC §2.4). peft's PiSSA initialisation rewrites W into W_res + B₀A₀; we put W back and steer by the change
from the initial adapter, y = W x + c · s · (BA − B₀A₀) x, so c = 1 is the trained PiSSA model and c = 0 the original."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from steerlab.methods.base import registered
from steerlab.methods.peft_base import ADAPTER, LoraFamilyConfig, LoraFamilyMethod, unit_scale


@dataclass
class PiSSAConfig(LoraFamilyConfig):
    name: str = "pissa"


@registered(PiSSAConfig)
class PiSSAMethod(LoraFamilyMethod):
    name = "pissa"
    init_weights = "pissa"
    rank_field = "r"  # initialised from the top-r singular components: no more than the rank

    def __init__(self, cfg):
        super().__init__(cfg)
        self.initial: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # (A₀, B₀) per layer
        self.original: dict[str, torch.Tensor] = {}  # W before peft's initialisation rewrote it (only while attaching)

    def before_inject(self, targets: dict) -> None:
        self.original = {key: lin.weight.detach().clone() for key, (_, _, lin) in targets.items()}

    def adopt(self, key, layer) -> None:
        self.initial[key] = (layer.lora_A[ADAPTER].weight.detach().clone(), layer.lora_B[ADAPTER].weight.detach().clone())
        layer.get_base_layer().weight.data.copy_(self.original.pop(key))
        layer.register_forward_hook(self._offset(key))

    def _offset(self, key: str):
        def hook(layer, args, output):
            if self.box["coeff"] == 0:
                return None
            a0, b0 = self.initial[key]
            s = self.box["coeff"] * unit_scale(layer)
            return output - s * ((args[0].to(a0.dtype) @ a0.T) @ b0.T).to(output.dtype)

        return hook

    def buffers(self):
        return {f"{k}.{w}0": t for k, (a0, b0) in self.initial.items() for w, t in (("A", a0), ("B", b0))}

    def load_state(self, tensors):
        super().load_state(tensors)
        self.initial = {k: (tensors.get(f"{k}.A0", a0), tensors.get(f"{k}.B0", b0)) for k, (a0, b0) in self.initial.items()}

    def merge_extra(self, key, layer, base, coeff) -> None:
        a0, b0 = self.initial[key]
        base.weight -= coeff * unit_scale(layer) * (b0 @ a0).to(base.weight.dtype)

    def merge(self, model, coeff: float) -> None:
        super().merge(model, coeff)
        self.initial = {}
