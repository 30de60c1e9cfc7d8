"""peft OFT (SPEC §2.4): the Cayley generator Q is scaled by c (exact Cayley, so c = −1 is the inverse rotation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from omegaconf import MISSING
from torch import nn
from torch.nn.utils import parametrize

from steerlab.fields import ranged
from steerlab.methods.base import registered
from steerlab.methods.peft_base import ADAPTER, PeftMethod

if TYPE_CHECKING:
    from peft import OFTConfig


@dataclass
class OFTAdapterConfig:
    name: str = MISSING
    block_size: int = ranged(32, ">=1")  # OFT block size


class Scaled(nn.Module):
    """Parametrization: weight → c · weight, with c read from the method at forward time."""

    def __init__(self, box: dict):
        super().__init__()
        self.box = box

    def forward(self, w):
        return w * self.box["coeff"]


@registered(OFTAdapterConfig)
class OFTMethod(PeftMethod):
    name = "oft"

    def peft_config(self, names: list[str]) -> OFTConfig:
        from peft import OFTConfig

        return OFTConfig(r=0, oft_block_size=self.cfg.block_size, target_modules=names, use_cayley_neumann=False, module_dropout=0.0)

    def adopt(self, key, layer) -> None:
        parametrize.register_parametrization(layer.oft_R[ADAPTER], "weight", Scaled(self.box))

    def scale_layer(self, layer, coeff: float) -> None:
        """peft's OFT has no scale: the parametrization reads c from `box`."""
