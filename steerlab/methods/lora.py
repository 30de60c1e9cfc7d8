"""peft LoRA (SPEC §2.4), steered by peft's `set_scale(c)`: scaling = c · alpha / r."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.methods.base import registered
from steerlab.methods.peft_base import LoraFamilyConfig, LoraFamilyMethod


@dataclass
class LoRAConfig(LoraFamilyConfig):
    name: str = "lora"


@registered(LoRAConfig)
class LoRAMethod(LoraFamilyMethod):
    name = "lora"
