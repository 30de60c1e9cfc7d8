"""What a method (or an analysis) fits on: the model, contrastive pairs, where to act, and the training settings.

`make_context` is the one place a FitContext is built: `launch.py` (steerlab.run) and notebooks (steerlab.api)
both call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from omegaconf import DictConfig, OmegaConf

from steerlab.activations import pair_states
from steerlab.config import DataConfig, LayersConfig, LossSpaceConfig, TrainConfig
from steerlab.data import Pair, make_pairs
from steerlab.layers import Placement, loss_layer, loss_layers, num_layers, steer_layers

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from steerlab.log import NullLogger


@dataclass
class FitContext:
    """Everything a method may need to fit; built once by `make_context`."""

    model: PreTrainedModel
    tok: PreTrainedTokenizerBase
    placement: Placement  # steered layers, targeted modules, read-out layer
    loss_layers: list[int]  # trained adapters: every loss layer (the read-out layer among them)
    train: list[Pair]
    val: list[Pair]
    personas: list[str]
    template: str
    train_cfg: DictConfig  # a TrainConfig (typed: defaults filled in)
    loss_cfg: DictConfig  # a LossSpaceConfig (typed)
    batch_size: int = 16
    readout_tokens: int = 1
    seed: int = 0
    logger: NullLogger | None = None
    folder: Path | None = None  # run folder for checkpoints (None = no checkpoints)
    cache: dict = field(default_factory=dict)  # (layer, 'pos'|'neg') -> [n_pairs, d]: states already extracted

    @property
    def steer_layers(self) -> list[int]:
        return self.placement.steer_layers

    @property
    def loss_layer(self) -> int:
        return self.placement.loss_layer

    @property
    def layers_path(self) -> str | None:
        return self.placement.layers_path

    def layer_states(self, layers: list[int]) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        """Unsteered last-token states of train pairs at decoder layers, extracted once per layer."""
        todo = [l for l in layers if (l, "pos") not in self.cache]
        if todo:
            mods = self.placement.decoder(self.model)
            pos, neg = pair_states(self.model, self.tok, self.train, {l: mods[l] for l in todo}, self.batch_size, self.readout_tokens)
            self.cache.update({(l, "pos"): pos[l] for l in todo} | {(l, "neg"): neg[l] for l in todo})
        return {l: self.cache[(l, "pos")] for l in layers}, {l: self.cache[(l, "neg")] for l in layers}


def context_from_config(cfg, model, tok, logger=None, folder: Path | None = None) -> FitContext:
    """A FitContext from a composed run config (data, layers, model, train, loss_space, seed)."""
    from steerlab.models import batch_start

    return make_context(
        model,
        tok,
        cfg.data,
        cfg.layers,
        layers_path=cfg.model.layers_path,
        batch_size=batch_start(cfg.model),
        seed=cfg.seed,
        train=cfg.train,
        loss=cfg.loss_space,
        logger=logger,
        folder=folder,
    )


def make_context(
    model,
    tok,
    data=None,
    layers=None,
    *,
    layers_path: str | None = None,
    batch_size: int = 16,
    seed: int = 0,
    train=None,
    loss=None,
    logger=None,
    folder: Path | None = None,
) -> FitContext:
    """A FitContext from (partial) data / layers / train / loss_space configs; missing keys take the schema defaults."""
    data = OmegaConf.merge(OmegaConf.structured(DataConfig), data or {})
    layers = OmegaConf.merge(OmegaConf.structured(LayersConfig), layers or {})
    depth = num_layers(model.config)
    train_pairs, val_pairs = make_pairs(tok, data, seed)
    placement = Placement(steer_layers(layers, depth), list(layers.modules), loss_layer(layers, depth), layers_path)
    return FitContext(
        model=model,
        tok=tok,
        placement=placement,
        loss_layers=loss_layers(layers, depth),
        train=train_pairs,
        val=val_pairs,
        personas=list(data.personas),
        template=data.template,
        train_cfg=OmegaConf.merge(OmegaConf.structured(TrainConfig), train or {}),
        loss_cfg=OmegaConf.merge(OmegaConf.structured(LossSpaceConfig), loss or {}),
        batch_size=batch_size,
        readout_tokens=data.readout_tokens,
        seed=seed,
        logger=logger,
        folder=folder,
    )
