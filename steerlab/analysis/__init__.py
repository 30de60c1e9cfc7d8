"""Concept analyses (SPEC §7) behind `analysis=<name>`: they reuse the run's model, pairs, layers and logger.

An analysis replaces the steering evaluation of a run: `python launch.py analysis=alignment` loads the model,
builds the training pairs as usual, runs the analysis and writes its tables and plots into the run folder
(and to W&B). Registry: name -> (config dataclass, function(analysis cfg, ctx, folder, logger, run cfg) -> summary dict, check).
"""
from __future__ import annotations

from dataclasses import dataclass

from steerlab.analysis.alignment import AlignmentConfig, alignment
from steerlab.analysis.alignment import check as check_alignment
from steerlab.analysis.coherence import CoherenceConfig, coherence
from steerlab.analysis.mapper import MapperConfig, mapper
from steerlab.analysis.mapper import check as check_mapper
from steerlab.config import plain, typed
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
    raw = plain(cfg) or {"name": "none"}
    name = raw.get("name", "none")
    if name not in REGISTRY:
        raise ConfigError(f"analysis.name={name!r}: unknown analysis; choose one of {sorted(REGISTRY)}")
    schema, fn, check = REGISTRY[name]
    analysis_cfg = typed(schema, raw, f"analysis={name}")
    check(analysis_cfg)
    return analysis_cfg, fn
