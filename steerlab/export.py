"""Export a fitted vector method as a llama.cpp control vector: `python -m steerlab.export RUN_DIR --to gguf`.

The file holds the vector the method adds at c = 1 (its calibrated sign and iso-KL strength included), one
`direction.<layer>` per steered layer, in llama.cpp's layer numbering (steerlab/control_vector.py). In llama.cpp,
`--control-vector-scaled FILE c` then steers by c, as steerlab does at coefficient c.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from steerlab import control_vector
from steerlab.errors import ConfigError, SteerlabError
from steerlab.methods.base import Method
from steerlab.methods.store import load
from steerlab.steering import applied


def directions(method: Method, coeff: float = 1.0) -> dict[int, np.ndarray]:
    """{layer: float32 vector} that `method` adds at user coefficient `coeff` (sign and iso-KL strength included)."""
    if method.cannot_export:
        raise ConfigError(f"adapter={method.name} cannot be a llama.cpp control vector: {method.cannot_export}")
    if not method.vector.layers:
        raise ConfigError(f"adapter={method.name}: the method has no fitted vector (fit or load it first)")
    if 0 in method.vector.layers:
        raise ConfigError(
            f"adapter={method.name} steers decoder layer 0, which llama.cpp control vectors never reach; steer layers ≥ 1 (layers.start)"
        )
    a = applied(method, coeff)
    return {l: (a * v.detach().float().cpu()).numpy().astype(np.float32) for l, v in sorted(method.vector.layers.items())}


def export_control_vector(method: Method, path: str | Path, coeff: float = 1.0, model_hint: str = "") -> Path:
    """The vector `method` adds at `coeff` (calibrated sign and strength) as a llama.cpp control-vector GGUF file."""
    return control_vector.write(
        directions(method, coeff),
        path,
        model_hint,
        {"method": method.name, "coeff": float(coeff), "sign": float(method.sign), "strength_scale": float(method.scale)},
    )


def model_hint(model_cfg) -> str:
    """The architecture name llama.cpp and repeng record: the GGUF file's `general.architecture`, else HF `model_type`."""
    from steerlab.config import Source
    from steerlab.models import model_config

    cfg = model_config(OmegaConf.to_container(model_cfg, resolve=True))
    if cfg.source == Source.tiny:
        return str(cfg.tiny.arch)
    if cfg.source == Source.gguf:
        from gguf import GGUFReader

        from steerlab.models import gguf_path

        field = GGUFReader(str(gguf_path(cfg))).get_field("general.architecture")
        return bytes(field.parts[-1]).decode() if field is not None else ""
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(cfg.path).model_type
    except (OSError, ValueError):  # no network or no config: the hint is informative only
        return ""


def export_run(run_dir: str | Path, out: str | Path | None = None, coeff: float = 1.0) -> Path:
    """The control vector of a finished run folder (its `method/` and `config.yaml`)."""
    run_dir = Path(run_dir)
    if not (run_dir / "method").is_dir() or not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a finished run folder (no method/ or config.yaml)")
    method = load(run_dir / "method")
    cfg = OmegaConf.load(run_dir / "config.yaml")
    return export_control_vector(method, out or run_dir / "control_vector.gguf", coeff, model_hint(cfg.model))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m steerlab.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", help="a run folder written by launch.py (outputs/runs/<date>/<time>_<method>)")
    parser.add_argument("--to", choices=["gguf"], default="gguf", help="format (llama.cpp control vector)")
    parser.add_argument("--out", help="file to write (default RUN_DIR/control_vector.gguf)")
    parser.add_argument("--coeff", type=float, default=1.0, help="the coefficient the file holds (default 1: scale it in llama.cpp)")
    args = parser.parse_args(argv)
    try:
        path = export_run(args.run_dir, args.out, args.coeff)
        vector, hint = control_vector.read(path)
    except SteerlabError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    layers = sorted(vector)
    print(f"wrote {path}: {len(layers)} directions (layers {layers[0]}–{layers[-1]}, model hint {hint!r}) at c = {args.coeff:g}")
    print(f"llama.cpp: llama-cli -m MODEL.gguf --control-vector-scaled {path} 1.0   (−1.0 steers the other way)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
