"""Run logging behind one small interface: W&B (offline unless told otherwise) or a do-nothing stand-in."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from steerlab.config import LoggerKind

log = logging.getLogger(__name__)


class NullLogger:
    """Accepts everything, does nothing: code never checks whether a logger is active."""

    run_dir: Path | None = None

    def log(self, metrics: dict, step: int | None = None) -> None: ...

    def summary(self, metrics: dict) -> None: ...

    def table(self, name: str, frame: pd.DataFrame) -> None: ...

    def image(self, name: str, path: Path) -> None: ...

    def html(self, name: str, path: Path) -> None: ...

    def preempted(self) -> None: ...

    def finish(self, exit_code: int = 0) -> None: ...


def flat_config(cfg: DictConfig) -> dict:
    """Dotted keys (`adapter.name`, `layers.start`), the top-level keys as they are (`seed`, `rotate_u`), plus `adapter` and
    `model` (the method and model names) that runs group by."""
    data = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    out: dict = {}

    def walk(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = node

    walk("", data)
    out.update(adapter=cfg.adapter.name, model=cfg.model.name)
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


def run_id(run_dir: Path, resume: bool) -> str:
    """The W&B run id: the one this folder's interrupted run used when resuming (requeue), a new one otherwise."""
    path = run_dir / "wandb_id"
    if resume and path.is_file():
        return path.read_text().strip()
    new = secrets.token_hex(6)
    path.write_text(new)
    return new


def start_run(lc, group: str | None, job_type: str, name: str, folder: Path, **extra):
    """`wandb.init` as every steerlab run and report calls it: the logger config's project, tags and mode, quiet."""
    import wandb

    return wandb.init(
        project=lc.project,
        group=group,
        tags=list(lc.get("tags") or []),
        job_type=job_type,
        name=name,
        dir=str(folder),
        mode=wandb_mode(lc.mode),
        reinit="finish_previous",
        settings=wandb.Settings(console="off", silent=True),
        **extra,
    )


class WandbLogger:
    def __init__(self, cfg: DictConfig, run_dir: Path, resume: bool = False, identity: str | None = None):
        import wandb

        self._wandb = wandb
        self.run = start_run(
            cfg.logger,
            run_group(cfg),
            cfg.adapter.name,
            f"{cfg.adapter.name}-{run_dir.name}",
            run_dir,
            id=run_id(run_dir, resume),
            resume="allow",
            config={**flat_config(cfg), "identity": identity},
        )
        self.run_dir, self.done = run_dir, False

    def log(self, metrics, step=None):
        self.run.log(metrics, step=step)

    def summary(self, metrics):
        self.run.summary.update(metrics)

    def table(self, name, frame):
        self.run.log({name: self._wandb.Table(dataframe=frame.reset_index(drop=True))})

    def image(self, name, path):
        self.run.log({name: self._wandb.Image(str(path))})

    def html(self, name, path):
        self.run.log({name: self._wandb.Html(Path(path).read_text())})

    def preempted(self):
        """Before a requeue (SLURM then stops every process of the job, W&B's service too): flush and close the run."""
        self.run.mark_preempting()
        self.finish(exit_code=0)

    def finish(self, exit_code=0):
        if self.done:
            return
        self.done = True
        try:
            self.run.finish(exit_code=exit_code)
        except Exception as ex:  # noqa: BLE001 - never let logging mask the job's own outcome
            log.warning("W&B run did not finish cleanly: %s", ex)


def make_logger(cfg: DictConfig, run_dir: Path, resume: bool = False, identity: str | None = None):
    """The run's logger; `identity` (steerlab.reuse.identity, computed by the caller) goes into the W&B config."""
    if cfg.logger.kind == LoggerKind.none or cfg.logger.mode == "disabled":
        return NullLogger()
    return WandbLogger(cfg, run_dir, resume, identity)
