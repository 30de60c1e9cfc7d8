"""Training checkpoints in the run folder: a restarted job resumes where it stopped and reaches the same result."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from steerlab.errors import ConfigError

log = logging.getLogger(__name__)


def _plain(value):
    return OmegaConf.to_container(value, resolve=True, enum_to_str=True) if isinstance(value, DictConfig) else value


def readable(path: Path) -> dict | None:
    """The checkpoint's payload, None when there is none; one line naming the file when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated or foreign files raise many types (OSError, RuntimeError, pickle errors)
        raise ConfigError(
            f"{path}: cannot read this training checkpoint ({type(e).__name__}: {str(e).split('. ')[0][:120]}); "
            "delete it or set train.resume=false to start over"
        ) from None


class Checkpoint:
    """`<run>/checkpoint/state.pt`: adapter parameters, optimizer, scheduler and loop state, written atomically."""

    def __init__(self, folder: Path | None, identity: dict):
        self.path = Path(folder) / "checkpoint" / "state.pt" if folder else None
        self.identity = json.dumps({k: _plain(v) for k, v in identity.items()}, sort_keys=True, default=str)

    def save(self, trainer, state: dict) -> Path | None:
        if self.path is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "identity": self.identity,
            "state": state,
            "params": {k: p.detach().cpu().clone() for k, p in trainer.params.items()},
            "optimizer": trainer.opt.state_dict(),
            "scheduler": trainer.sched.state_dict(),
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, self.path)
        return self.path

    def restore(self, trainer) -> dict | None:
        """Loop state from an existing checkpoint (parameters and optimizer put back into `trainer`), or None."""
        if self.path is None:
            return None
        payload = readable(self.path)
        if payload is None:
            return None
        if payload["identity"] != self.identity:
            raise ConfigError(f"{self.path} was written for another adapter/train/loss config; delete it or set train.resume=false")
        with torch.no_grad():
            for k, p in trainer.params.items():
                p.copy_(payload["params"][k].to(p.device, p.dtype))
        trainer.opt.load_state_dict(payload["optimizer"])
        trainer.sched.load_state_dict(payload["scheduler"])
        state = payload["state"]
        state["resumed_from"] = state["step"]
        log.info("resumed training from %s at step %d", self.path, state["step"])
        return state
