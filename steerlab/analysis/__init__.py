"""Concept analyses (SPEC §7) behind `analysis=<name>`: they reuse the run's model, pairs, layers and logger.

An analysis replaces the steering evaluation of a run: `python launch.py analysis=alignment` loads the model,
builds the training pairs as usual, runs the analysis and writes its tables and plots into the run folder
(and to W&B). Registry: name -> (config dataclass, function(analysis cfg, ctx, folder, logger, run cfg) -> summary dict, check).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, is_dataclass

from omegaconf import DictConfig, OmegaConf

from steerlab.analysis.alignment import AlignmentConfig, alignment
from steerlab.analysis.alignment import check as check_alignment
from steerlab.analysis.coherence import CoherenceConfig, coherence
from steerlab.analysis.mapper import MapperConfig, mapper
from steerlab.analysis.mapper import check as check_mapper
from steerlab.errors import ConfigError


@dataclass
class NoAnalysis:
    name: str = "none"


def no_check(cfg) -> None:
    """Analyses whose schema says it all."""


REGISTRY = {  # name -> (config dataclass, function, check run before any model work)
    "none": (NoAnalysis, None, no_check),
    "alignment": (AlignmentConfig, alignment, check_alignment),
    "mapper": (MapperConfig, mapper, check_mapper),
    "coherence": (CoherenceConfig, coherence, no_check),
}


def build(cfg):
    """(typed config, function) for an analysis config; ConfigError for an unknown name or field."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else (asdict(cfg) if is_dataclass(cfg) else dict(cfg or {"name": "none"}))
    name = raw.get("name", "none")
    if name not in REGISTRY:
        raise ConfigError(f"analysis.name={name!r}: unknown analysis; choose one of {sorted(REGISTRY)}")
    schema, fn, check = REGISTRY[name]
    try:
        typed = OmegaConf.merge(OmegaConf.structured(schema), raw)
    except Exception as ex:  # noqa: BLE001 - omegaconf's own messages name the key
        raise ConfigError(f"analysis={name}: {str(ex).splitlines()[0]}") from None
    check(typed)
    return typed, fn
