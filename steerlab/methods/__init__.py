"""Registry of steering methods (name -> (config schema, class)), and steer / save / load for any of them."""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from omegaconf import OmegaConf
from safetensors.torch import load_file, save_file

from steerlab.config import plain, typed
from steerlab.errors import ConfigError
from steerlab.methods.ablate import AblateConfig, AblateMethod
from steerlab.methods.base import FitContext, Method
from steerlab.methods.imported import ControlVectorConfig, ControlVectorMethod
from steerlab.methods.ipissa import IPissaConfig, IPissaMethod
from steerlab.methods.jacobian import JacobianConfig, JacobianMethod
from steerlab.methods.mean import MeanConfig, MeanMethod
from steerlab.methods.peft_adapters import PeftAdapterConfig, PeftMethod
from steerlab.methods.pca import PCAConfig, PCAMethod
from steerlab.methods.probe import ProbeConfig, ProbeMethod
from steerlab.methods.prompt import PromptConfig, PromptMethod
from steerlab.methods.random_dir import RandomConfig, RandomMethod
from steerlab.methods.svd_delta import SVDDeltaConfig, SVDDeltaMethod
from steerlab.methods.vector import SteeringVector

REGISTRY: dict[str, tuple[type, type[Method]]] = {
    "mean": (MeanConfig, MeanMethod),
    "pca": (PCAConfig, PCAMethod),
    "random": (RandomConfig, RandomMethod),
    "svd_delta": (SVDDeltaConfig, SVDDeltaMethod),
    "prompt": (PromptConfig, PromptMethod),
    "probe": (ProbeConfig, ProbeMethod),
    "jacobian": (JacobianConfig, JacobianMethod),
    "ablate": (AblateConfig, AblateMethod),
    "control_vector": (ControlVectorConfig, ControlVectorMethod),
    "ipissa": (IPissaConfig, IPissaMethod),
    "lora": (PeftAdapterConfig, PeftMethod),
    "dora": (PeftAdapterConfig, PeftMethod),
    "pissa": (PeftAdapterConfig, PeftMethod),
    "oft": (PeftAdapterConfig, PeftMethod),
}
__all__ = ["REGISTRY", "FitContext", "Method", "SteeringVector", "build", "applied", "steer", "steered_prompt", "save", "load", "merge",
           "trainable_names"]


def trainable_names() -> list[str]:
    """Methods trained by steerlab.train (the contract tests run over these)."""
    return sorted(n for n, (_, cls) in REGISTRY.items() if getattr(cls, "trainable_method", False))


def build(cfg) -> Method:
    """A method from its config (DictConfig, dataclass or dict with `name`), validated against its schema."""
    raw = plain(cfg)
    name = raw.get("name")
    if name not in REGISTRY:
        raise ConfigError(f"adapter.name={name!r}: unknown method; choose one of {sorted(REGISTRY)}")
    schema, cls = REGISTRY[name]
    return cls(typed(schema, raw, f"adapter.{name}"))


def applied(method: Method, coeff: float) -> float:
    """The one mapping from a user coefficient c to what a method applies: c · sign (SPEC §4) · strength scale (§8)."""
    return float(coeff) * method.sign * method.scale


@contextmanager
def steer(model, method: Method, coeff: float) -> Iterator[None]:
    """`with steer(model, method, c):` — the model steered by c (sign and strength calibrated); restored exactly on exit."""
    with method.apply(model, applied(method, coeff)):
        yield


def steered_prompt(method: Method, text: str, coeff: float) -> str:
    """The user prompt as `method` shows it at user coefficient c (only prompting changes it)."""
    return method.edit_prompt(text, applied(method, coeff))


def merge(model, method: Method, coeff: float) -> None:
    """Fold a trained adapter at coefficient `coeff` (sign and strength calibrated) into the model's weights and remove it."""
    if not hasattr(method, "merge"):
        raise ConfigError(f"{method.name} is not a weight adapter; only trained adapters can be merged")
    method.merge(model, applied(method, coeff))


def save(method: Method, folder: str | Path) -> Path:
    """Write `tensors.safetensors` and `method.json` (name, config, sign, strength scale, meta) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(method.tensors(), folder / "tensors.safetensors")
    info = {"name": method.name, "config": OmegaConf.to_container(method.cfg, resolve=True, enum_to_str=True), "sign": method.sign, "scale": method.scale,
            "meta": method.meta}
    (folder / "method.json").write_text(json.dumps(info, indent=2, default=str))
    return folder


def load(folder: str | Path) -> Method:
    folder = Path(folder)
    if not (folder / "method.json").is_file():
        raise ConfigError(f"{folder}: not a saved steerlab method (no method.json)")
    info = json.loads((folder / "method.json").read_text())
    method = build(info["config"])
    method.sign, method.meta = float(info["sign"]), _int_keys(info["meta"])
    method.scale = float(info.get("scale", 1.0))  # methods saved before strength calibration: native
    method.load_tensors(load_file(folder / "tensors.safetensors"))
    return method


def _int_keys(meta: dict) -> dict:
    """JSON turns int dict keys into strings; turn per-layer dicts back."""
    fix = lambda d: {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: v for k, v in d.items()}  # noqa: E731
    return {k: fix(v) if isinstance(v, dict) else v for k, v in meta.items()}
