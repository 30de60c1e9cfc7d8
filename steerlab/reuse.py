"""A run's identity (hash of its *effective* config) and the index of finished runs that multiruns reuse.

Two cells of a sweep share an identity when every key that can change the result is equal:
logger, launcher (hydra), run-folder keys never count; `train` and `loss_space` count only for
trained adapters; the top-level `rotate_u` counts only through the adapters that read it
(ipissa's `adapter.rotate_u`). The code version (package version and git commit) is part of the
identity, so a result is never reused across code changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

NEVER = ("hydra", "logger", "out_dir", "reuse", "results_index", "rotate_u", "experiment")
TRAINED_ONLY = ("train", "loss_space")


@lru_cache(maxsize=1)
def code_version() -> str:
    import steerlab

    here = Path(steerlab.__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{steerlab.__version__}+{commit or 'nogit'}"


def effective(cfg: DictConfig) -> dict:
    """The resolved config restricted to keys that can change this run's result."""
    from steerlab.methods import trainable_names

    data = {}
    for key in cfg:
        if key not in NEVER:
            value = cfg[key]  # resolved against the whole config, so `${rotate_u}` inside adapter still works
            data[key] = OmegaConf.to_container(value, resolve=True, enum_to_str=True) if OmegaConf.is_config(value) else value
    if data["adapter"]["name"] not in trainable_names():
        for key in TRAINED_ONLY:
            data.pop(key, None)
    data["code"] = code_version()
    return data


def identity(cfg: DictConfig) -> str:
    text = json.dumps(effective(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Index:
    """`<root>/<identity>.json` → the run folder that finished with that identity."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def find(self, ident: str) -> Path | None:
        """The finished run folder for `ident`, if its summary is still there and names the same identity."""
        entry = self.root / f"{ident}.json"
        if not entry.is_file():
            return None
        folder = Path(json.loads(entry.read_text())["run_dir"])
        status = folder / "status.json"
        if not (folder / "summary.json").is_file() or not status.is_file():
            return None
        info = json.loads(status.read_text())
        return folder if info.get("identity") == ident and info.get("status") == "computed" else None

    def record(self, ident: str, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{ident}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"run_dir": str(Path(folder).resolve()), "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}))
        os.replace(tmp, self.root / f"{ident}.json")


def write_status(folder: Path, status: str, **fields) -> None:
    """`<run>/status.json`: computed | reused | failed | running, with identity, overrides and error or source."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".status.tmp"
    tmp.write_text(json.dumps({"status": status, **fields}, indent=2, default=str))
    os.replace(tmp, folder / "status.json")


def read_status(folder: Path) -> dict | None:
    path = Path(folder) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else None
