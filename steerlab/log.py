"""Run logging behind one small interface: W&B (offline unless told otherwise) or a do-nothing stand-in."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from steerlab.config import LoggerKind
from steerlab.reuse import identity


class NullLogger:
    """Accepts everything, does nothing: code never checks whether a logger is active."""

    run_dir: Path | None = None

    def log(self, metrics: dict, step: int | None = None) -> None: ...

    def summary(self, metrics: dict) -> None: ...

    def table(self, name: str, frame: pd.DataFrame) -> None: ...

    def image(self, name: str, path: Path) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...


def flat_config(cfg: DictConfig) -> dict:
    """Dotted keys (`adapter.name`, `layers.start`) plus short top-level keys runs group by."""
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    out: dict = {}

    def walk(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    walk("", data)
    out.update(adapter=cfg.adapter.name, model=cfg.model.name, rotate_u=cfg.rotate_u, seed=cfg.seed)
    return out


def sweep_group(sweep_dir) -> str:
    """W&B group of every run of one multirun: `sweep-<date>_<time>` from the sweep folder's last two parts."""
    return "sweep-" + "_".join(Path(sweep_dir).parts[-2:])


def run_group(cfg: DictConfig) -> str | None:
    """logger.group if set; otherwise the sweep's group for multirun jobs, and none for single runs."""
    if cfg.logger.group:
        return cfg.logger.group
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return sweep_group(HydraConfig.get().sweep.dir)
    return None


def wandb_mode(mode: str) -> str:
    if mode == "auto":
        return "online" if os.environ.get("WANDB_API_KEY") else "offline"
    return mode


class WandbLogger:
    def __init__(self, cfg: DictConfig, run_dir: Path):
        import wandb

        self._wandb = wandb
        lc = cfg.logger
        self.run = wandb.init(
            project=lc.project, group=run_group(cfg), tags=list(lc.tags), job_type=cfg.adapter.name,
            name=f"{cfg.adapter.name}-{run_dir.name}", dir=str(run_dir), mode=wandb_mode(lc.mode),
            config={**flat_config(cfg), "identity": identity(cfg)}, reinit="finish_previous", settings=wandb.Settings(console="off", silent=True),
        )
        self.run_dir = run_dir

    def log(self, metrics, step=None):
        self.run.log(metrics, step=step)

    def summary(self, metrics):
        self.run.summary.update(metrics)

    def table(self, name, frame):
        self.run.log({name: self._wandb.Table(dataframe=frame.reset_index(drop=True))})

    def image(self, name, path):
        self.run.log({name: self._wandb.Image(str(path))})

    def finish(self, exit_code=0):
        self.run.finish(exit_code=exit_code)


def make_logger(cfg: DictConfig, run_dir: Path):
    if cfg.logger.kind == LoggerKind.none or cfg.logger.mode == "disabled":
        return NullLogger()
    return WandbLogger(cfg, run_dir)
