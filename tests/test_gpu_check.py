"""scripts/gpu_check.sh: its CPU dry run (what CI can run of the GPU check), and the slow bf16-vs-fp32 comparison on
SmolLM2 with the same code and tolerances the GPU check uses."""

import json
import os
import subprocess
import sys

import pytest

from steerlab.config import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import gpu_check  # noqa: E402


def test_cpu_dry_run_passes(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "GPU_CHECK_OUT": str(tmp_path)}
    r = subprocess.run(["bash", "scripts/gpu_check.sh", "--cpu"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["passed"] and len(result["methods"]) == 12 and all(row["c0_exact"] for row in result["methods"])
    assert {a["method"] for a in result["agreement"]} == set(gpu_check.METHODS)
    assert (tmp_path / "gpu_check.md").read_text().count("|") > 50


@pytest.mark.slow
def test_smollm2_bf16_agrees_with_fp32(tmp_path):
    """pca on SmolLM2 in bf16 and in fp32 (CPU): the iso-KL scale, the KL reached, Effect and MC1(0) within the
    GPU check's tolerances (gpu_check.TOLERANCE: an Effect within 0.02 or half its standard error)."""
    plan = {"pairs": 32, "steps": 0, "items": 12, "kl_tokens": 8, "kl_target": 0.25}
    rows = {dt: gpu_check.one_method("smollm2_135m", "pca", {}, plan, dt, "cpu", tmp_path) for dt in ("bfloat16", "float32")}
    assert rows["bfloat16"]["c0_exact"] and rows["float32"]["c0_exact"]
    [agree] = gpu_check.agreement([rows["bfloat16"]], [rows["float32"]])
    assert agree["agrees"], (agree, rows)
    assert max(rows["bfloat16"]["kl_plus"], rows["bfloat16"]["kl_minus"]) == pytest.approx(0.25, rel=0.1)
