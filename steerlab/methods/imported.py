"""A control vector made elsewhere (llama.cpp's cvector-generator, repeng, another steerlab run) as a steerlab method:
`adapter=control_vector adapter.path=FILE.gguf`. Its layers come from the file (llama.cpp numbering = steerlab's:
`direction.l` is added to the output of decoder layer l), so `layers.start/end` do not apply; the sign and the
iso-KL strength are calibrated on the training pairs like any other method's."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omegaconf import MISSING

from steerlab.control_vector import read
from steerlab.errors import ConfigError
from steerlab.layers import Placement
from steerlab.methods.base import registered
from steerlab.methods.vector import SteeringVector, VectorMethod

if TYPE_CHECKING:
    from steerlab.context import FitContext

log = logging.getLogger(__name__)


@dataclass
class ControlVectorConfig:
    name: str = "control_vector"
    path: str = MISSING  # a control-vector GGUF file


@registered(ControlVectorConfig)
class ControlVectorMethod(VectorMethod):
    name = "control_vector"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.loaded, self.hint = None, ""

    def check_layers(self, steer_layers, loss_layers) -> None:
        """A missing or malformed file fails here, before the model loads."""
        layers, self.hint = read(self.cfg.path)
        self.loaded = SteeringVector(layers)

    def fit(self, ctx: FitContext) -> None:
        if self.loaded is None:
            self.check_layers(ctx.steer_layers, ctx.loss_layers)
        n_layers = len(ctx.placement.decoder(ctx.model))
        width = ctx.model.get_input_embeddings().weight.shape[-1]
        bad = [l for l in self.loaded.layers if l >= n_layers]
        if bad or {v.numel() for v in self.loaded.layers.values()} != {width}:
            raise ConfigError(
                f"adapter.path={self.cfg.path}: vectors for layers {sorted(self.loaded.layers)} of length "
                f"{next(iter(self.loaded.layers.values())).numel()} do not fit this model ({n_layers} layers, width {width})"
            )
        self.vector = self.loaded
        self.placement = Placement(sorted(self.vector.layers), ctx.placement.modules, ctx.loss_layer, ctx.layers_path)
        self.meta.update(model_hint=self.hint, source_file=str(self.cfg.path))
        log.info(
            "control vector %s: layers %s (model hint %r); layers.start/end do not apply",
            self.cfg.path,
            sorted(self.vector.layers),
            self.hint,
        )
