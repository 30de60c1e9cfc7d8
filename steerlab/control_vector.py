"""The llama.cpp control-vector file format: write per-layer vectors as the GGUF file llama.cpp's `--control-vector`
reads, and read such files (llama.cpp's cvector-generator, repeng's `export_gguf`, steerlab's export) back.

The layout, as llama.cpp's loader (`common_control_vector_load_one`, common/common.cpp) and its graph read it:
- `general.architecture` = "controlvector", `controlvector.model_hint` (the model's architecture, informative),
  `controlvector.layer_count` (number of direction tensors);
- one F32 1-D tensor `direction.<il>` of n_embd values per steered layer il ≥ 1, *added to the output of decoder
  layer il* (`build_cvec` after the layer's residual add, `l_out`); layer 0 never gets one. steerlab adds its vectors
  to the output of decoder layer l too (`hooks.add_vectors`), so steerlab's layer l is llama.cpp's `direction.l`.
- llama.cpp multiplies each file by its `--control-vector-scaled FILE s` strength, so the file holds the vector at c = 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from steerlab.errors import ConfigError

ARCH = "controlvector"


def write(vectors: dict[int, np.ndarray], path: str | Path, model_hint: str, extra: dict[str, str | float] | None = None) -> Path:
    """Write {layer ≥ 1: [n_embd] float32} as a control-vector GGUF file; `extra` keys go in as `steerlab.<key>`."""
    from gguf import GGUFWriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(str(path), ARCH)
    writer.add_string(f"{ARCH}.model_hint", model_hint or "unknown")
    writer.add_int32(f"{ARCH}.layer_count", len(vectors))
    for key, value in (extra or {}).items():
        (writer.add_string if isinstance(value, str) else writer.add_float32)(f"steerlab.{key}", value)
    for layer, vec in sorted(vectors.items()):
        writer.add_tensor(f"direction.{layer}", np.ascontiguousarray(vec, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def read(path: str | Path) -> tuple[dict[int, torch.Tensor], str]:
    """({layer: float32 vector}, model hint) from a control-vector GGUF file; directions of one layer add up, as in llama.cpp.
    (A plain dict, so this module imports nothing of steerlab.methods; `api.import_control_vector` wraps it.)"""
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"control vector file not found: {path}")
    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as e:
        raise ConfigError(f"{path}: not a GGUF file ({e})") from None
    arch = _string(reader, "general.architecture")
    if arch != ARCH:
        raise ConfigError(f"{path}: general.architecture is {arch!r}, not {ARCH!r}: not a control vector")
    layers: dict[int, torch.Tensor] = {}
    for t in reader.tensors:
        prefix, _, index = t.name.partition(".")
        if prefix != "direction" or not index.isdigit() or int(index) == 0:
            raise ConfigError(f"{path}: tensor {t.name!r} is not direction.<layer ≥ 1>")
        data = torch.from_numpy(np.array(t.data, dtype=np.float32).reshape(-1))
        layers[int(index)] = layers[int(index)] + data if int(index) in layers else data
    if not layers:
        raise ConfigError(f"{path}: no direction tensors")
    if len({v.numel() for v in layers.values()}) != 1:
        raise ConfigError(f"{path}: direction tensors differ in length")
    return dict(sorted(layers.items())), _string(reader, f"{ARCH}.model_hint") or ""


def _string(reader, key: str) -> str | None:
    field = reader.get_field(key)
    return None if field is None else bytes(field.parts[-1]).decode("utf-8", errors="replace")
