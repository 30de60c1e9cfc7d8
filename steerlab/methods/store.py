"""Save a fitted method to a folder and load it back: `tensors.safetensors` + `method.json`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from steerlab.errors import ConfigError, DataError
from steerlab.layers import Placement
from steerlab.methods.base import Method
from steerlab.methods.registry import build


def save(method: Method, folder: str | Path) -> Path:
    """Write `tensors.safetensors` and `method.json` (name, config, sign, strength scale, placement, state, meta) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(method.tensors(), folder / "tensors.safetensors")
    info = {
        "name": method.name,
        "config": OmegaConf.to_container(method.cfg, resolve=True, enum_to_str=True),
        "sign": method.sign,
        "scale": method.scale,
        "placement": asdict(method.placement) if method.placement else None,
        "state": {k: getattr(method, k) for k in method.saved},
        "meta": method.meta,
    }
    (folder / "method.json").write_text(json.dumps(info, indent=2, default=str))
    return folder


def load(folder: str | Path) -> Method:
    folder = Path(folder)
    if not (folder / "method.json").is_file():
        raise ConfigError(f"{folder}: not a saved steerlab method (no method.json)")
    try:
        info = json.loads((folder / "method.json").read_text())
    except (ValueError, OSError) as e:
        raise DataError(f"{folder / 'method.json'}: unreadable ({e}); {RECOVER}") from None
    method = build(info["config"])
    method.sign, method.meta = float(info["sign"]), _int_keys(info["meta"])
    method.scale = float(info.get("scale", 1.0))  # methods saved before strength calibration: native
    method.placement = placement(info)
    for key in method.saved:
        setattr(method, key, info.get("state", {}).get(key, info["meta"].get(key)))  # saved before `state` existed: in meta
    method.load_tensors(tensors_of(folder / "tensors.safetensors"))
    return method


RECOVER = "the save is incomplete or corrupt: fit again (save() rewrites the folder) or delete the folder"


def tensors_of(path: Path) -> dict:
    """The tensors of a saved method; a missing, truncated or corrupt file is one line naming it."""
    if not path.is_file():
        raise DataError(f"{path}: missing; {RECOVER}")
    try:
        return load_file(path)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError (and OSError, ValueError)
        raise DataError(f"{path}: cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:160]}); {RECOVER}") from None


def placement(info: dict) -> Placement | None:
    """The saved placement; methods saved before it existed kept its parts in `meta`."""
    if info.get("placement"):
        return Placement(**info["placement"])
    meta = info["meta"]
    layers = meta.get("steer_layers") or sorted(int(l) for l in meta.get("residual_norms", {}))  # vector methods kept only their norms
    return Placement(layers, meta.get("modules", []), meta.get("calibration_layer", 0), meta.get("layers_path"))


def _int_keys(meta: dict) -> dict:
    """JSON turns int dict keys into strings; turn per-layer dicts back."""
    fix = lambda d: {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in d.items()}
    return {k: fix(v) if isinstance(v, dict) else v for k, v in meta.items()}
