"""The registry of concept analyses behind `analysis=<name>`: name -> (config dataclass, function, check)."""

from __future__ import annotations

from dataclasses import dataclass

from steerlab.analysis.alignment import AlignmentConfig, alignment
from steerlab.analysis.alignment import check as check_alignment
from steerlab.analysis.coherence import CoherenceConfig, coherence
from steerlab.analysis.mapper import MapperConfig, mapper
from steerlab.analysis.mapper import check as check_mapper
from steerlab.config import plain
from steerlab.registry import Registry


@dataclass
class NoAnalysis:
    name: str = "none"


def no_check(cfg) -> None:
    """Analyses whose schema says it all."""


ANALYSES = Registry(
    "analysis",
    {  # name -> (config dataclass, function, check run before any model work)
        "none": (NoAnalysis, None, no_check),
        "alignment": (AlignmentConfig, alignment, check_alignment),
        "mapper": (MapperConfig, mapper, check_mapper),
        "coherence": (CoherenceConfig, coherence, no_check),
    },
    default="none",
)


def build(cfg):
    """(typed config, function) for an analysis config; ConfigError for an unknown name or field."""
    raw = plain(cfg) or {"name": "none"}
    analysis_cfg, (_, fn, check) = ANALYSES.resolve(raw, "analysis", f"analysis={raw.get('name', 'none')}")
    check(analysis_cfg)
    return analysis_cfg, fn
