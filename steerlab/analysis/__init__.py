"""Concept analyses (SPEC §7) behind `analysis=<name>`: they reuse the run's model, pairs, layers and logger.

An analysis replaces the steering evaluation of a run: `python launch.py analysis=alignment` loads the model,
builds the training pairs as usual, runs the analysis and writes its tables and plots into the run folder
(and to W&B). Registry: name -> (config dataclass, function(analysis cfg, ctx, folder, logger, run cfg) -> summary dict).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass

from omegaconf import DictConfig, OmegaConf

from steerlab.analysis import alignment as _alignment
from steerlab.analysis import mapper as _mapper
from steerlab.analysis.alignment import AlignmentConfig, alignment
from steerlab.analysis.coherence import CoherenceConfig, coherence
from steerlab.analysis.mapper import MapperConfig, mapper
from steerlab.errors import ConfigError


@dataclass
class NoAnalysis:
    name: str = "none"


REGISTRY = {
    "none": (NoAnalysis, None),
    "alignment": (AlignmentConfig, alignment),
    "mapper": (MapperConfig, mapper),
    "coherence": (CoherenceConfig, coherence),
}


def build(cfg):
    """(typed config, function) for an analysis config; ConfigError for an unknown name or field."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else (asdict(cfg) if is_dataclass(cfg) else dict(cfg or {"name": "none"}))
    name = raw.get("name", "none")
    if name not in REGISTRY:
        raise ConfigError(f"analysis.name={name!r}: unknown analysis; choose one of {sorted(REGISTRY)}")
    schema, fn = REGISTRY[name]
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), raw)
    except Exception as ex:  # noqa: BLE001 - omegaconf's own messages name the key
        raise ConfigError(f"analysis={name}: {str(ex).splitlines()[0]}") from None
    {"alignment": _alignment.check, "mapper": _mapper.check}.get(name, lambda c: None)(typed)
    return typed, fn
