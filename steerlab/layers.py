"""Find decoder layers and their sub-modules generically, and resolve layer positions from config."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

from torch import nn

from steerlab.config import LayersConfig
from steerlab.errors import ConfigError


def num_layers(config) -> int:
    """Depth of a transformers config (text config for multimodal models)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(text.num_hidden_layers)


def decoder_layers(model: nn.Module, path: str | None = None) -> nn.ModuleList:
    """The model's list of decoder layers: `path` if given, else the ModuleList whose length is the depth."""
    if path:
        return attrgetter(path)(model)
    depth = num_layers(model.config)
    found = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == depth]
    if not found:
        raise ConfigError(f"no ModuleList of {depth} decoder layers in {type(model).__name__}; set model.layers_path")
    return min(found, key=lambda item: item[0].count("."))[1]


def position(value: float, depth: int, key: str) -> int:
    """Resolve one layer position: (-1, 1) is a fraction of depth, whole numbers are indices (negative from the end)."""
    if -1 < value < 1 and value != 0:
        index = round(value * depth) if value > 0 else depth + round(value * depth)
    elif float(value).is_integer():
        index = int(value) if value >= 0 else depth + int(value)
    else:
        raise ConfigError(f"{key}={value}: use a fraction in (-1, 1) or a whole layer index")
    if not 0 <= index < depth:
        raise ConfigError(f"{key}={value} is out of range for a model with {depth} layers (use {-depth}..{depth - 1} or a fraction)")
    return index


def steer_layers(cfg: LayersConfig, depth: int) -> list[int]:
    """Layers a method writes to, sorted and unique."""
    if cfg.indices:
        return sorted({position(float(i), depth, "layers.indices") for i in cfg.indices})
    start = position(cfg.start, depth, "layers.start")
    end = loss_layer(cfg, depth) - 1 if cfg.end is None else position(cfg.end, depth, "layers.end")
    if start > end:
        raise ConfigError(f"layers.start={cfg.start} (layer {start}) is after layers.end={cfg.end} (layer {end})")
    return list(range(start, end + 1))


def loss_layer(cfg: LayersConfig, depth: int) -> int:
    """Read-out layer ℓ: the residual stream entering decoder layer ℓ (HF `hidden_states[ℓ]`), so ℓ >= 1."""
    index = position(cfg.loss, depth, "layers.loss")
    if index < 1:
        raise ConfigError(f"layers.loss={cfg.loss}: the read-out layer must be at least 1 (it reads the output of layer ℓ-1)")
    return index


def loss_layers(cfg: LayersConfig, depth: int) -> list[int]:
    """All loss layers of trained adapters: `loss` plus `loss_layers`, sorted and unique."""
    extra = [position(float(v), depth, "layers.loss_layers") for v in cfg.loss_layers or []]
    if any(l < 1 for l in extra):
        raise ConfigError(f"layers.loss_layers={list(cfg.loss_layers)}: loss layers must be at least 1")
    return sorted({loss_layer(cfg, depth), *extra})


def readout_index(index: int) -> int:
    """The decoder layer whose output is `hidden_states[index]` (the read-out layer ℓ reads layer ℓ − 1's output)."""
    return index - 1


def readout(layers: nn.ModuleList, index: int) -> nn.Module:
    """The decoder layer whose output is `hidden_states[index]`."""
    return layers[readout_index(index)]


def base_linear(mod: nn.Module) -> nn.Linear | None:
    """The Linear itself, or the one an adapter wraps (steerlab's `base`, peft's `base_layer`); None otherwise."""
    inner = mod if isinstance(mod, nn.Linear) else getattr(mod, "base_layer", None) or getattr(mod, "base", None)
    return inner if isinstance(inner, nn.Linear) else None


def is_linear(mod: nn.Module) -> bool:
    return base_linear(mod) is not None


def find_modules(layer: nn.Module, names: list[str]) -> dict[str, nn.Linear]:
    """Linear sub-modules of one decoder layer whose qualified name ends with one of `names`."""
    found = {qual: mod for qual, mod in layer.named_modules() if is_linear(mod) and any(qual == n or qual.endswith("." + n) for n in names)}
    missing = [n for n in names if not any(q == n or q.endswith("." + n) for q in found)]
    if missing:
        raise ConfigError(f"layers.modules: no Linear named {missing} in {type(layer).__name__}")
    return found


@dataclass
class Placement:
    """Where a method acts: the decoder layers it writes to, the Linear sub-modules it targets inside them, and the
    read-out layer. A fitted method keeps it (saved in method.json), so it re-attaches to a freshly loaded model."""

    steer_layers: list[int]
    modules: list[str]
    loss_layer: int
    layers_path: str | None = None  # dotted path of the decoder-layer list; None = found generically

    def decoder(self, model: nn.Module) -> nn.ModuleList:
        return decoder_layers(model, self.layers_path)

    def linears(self, model: nn.Module) -> dict[str, tuple[nn.Module, str, nn.Module]]:
        """{"layer.module": (decoder layer, qualified name inside it, module)} for every targeted Linear (or its wrapper)."""
        layers = self.decoder(model)
        return {
            f"{l}.{qual}": (layers[l], qual, mod) for l in self.steer_layers for qual, mod in find_modules(layers[l], self.modules).items()
        }
