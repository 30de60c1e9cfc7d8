"""peft LoRA (SPEC §2.4), steered by peft's `set_scale(c)`: scaling = c · alpha / r."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.methods.peft_base import LoraFamilyConfig, LoraFamilyMethod


@dataclass
class LoRAConfig(LoraFamilyConfig):
    name: str = "lora"


class LoRAMethod(LoraFamilyMethod):
    name = "lora"
