"""Every config group composes and validates; bad input fails fast with one line naming the culprit."""

import pytest
from omegaconf import OmegaConf

from steerlab import ranges
from steerlab.analysis.registry import build as build_analysis
from steerlab.config import REPO_ROOT
from steerlab.methods.registry import METHODS as REGISTRY
from steerlab.methods.registry import build
from tests.helpers import compose_cfg, launch

GROUPS = sorted(p.name for p in (REPO_ROOT / "conf").iterdir() if p.is_dir() and p.name != "hydra")  # every group, train and analysis too


def test_the_group_list_is_every_config_group():
    assert {
        "model",
        "adapter",
        "loss_space",
        "layers",
        "metric",
        "data",
        "eval",
        "evals",
        "logger",
        "experiment",
        "strength",
        "train",
        "analysis",
    } <= set(GROUPS)


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((REPO_ROOT / "conf" / g).glob("*.yaml"))])
def test_every_option_composes(group, option):
    cfg = compose_cfg([f"{group}={option}"])
    OmegaConf.to_container(cfg, resolve=True)  # every interpolation resolves
    assert cfg.adapter.name in REGISTRY
    ranges.check(cfg)
    build_analysis(cfg.get("analysis"))  # `analysis=…` options validate against their own dataclasses


def test_every_registered_method_has_a_config_file_and_builds():
    for name in REGISTRY:
        cfg = compose_cfg([f"adapter={name}"])
        assert build(cfg.adapter).name == name


def test_rotate_u_grid_composes():
    for a in ("pca", "prompt"):
        for r in ("true", "false"):
            assert compose_cfg([f"adapter={a}", f"rotate_u={r}"]).rotate_u == (r == "true")


def test_schema_rejects_wrong_type_and_unknown_key():
    with pytest.raises(Exception, match="layers.start"):
        compose_cfg(["layers.start=abc"])
    with pytest.raises(Exception, match="nonsense"):
        compose_cfg(["adapter.nonsense=1"])
    with pytest.raises(Exception, match="source"):
        compose_cfg(["model.source=cloud"])


def test_malformed_truthfulqa_file_fails_before_the_model_loads(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Question,Best Answer,Correct Answers\nIs it?,Yes,Yes\n")
    proc = launch(["evals=[builtin,truthfulqa]", f"evals.truthfulqa.path={bad}", "model=tiny_llama"], tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "evals.truthfulqa.path" in lines[0] and "lacks column(s) ['Incorrect Answers']" in lines[0]
    assert "loaded" not in proc.stdout + proc.stderr  # no model work
