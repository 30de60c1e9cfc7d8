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
    assert {"model", "adapter", "loss_space", "layers", "metric", "data", "eval", "evals", "logger", "experiment", "strength", "train",
            "analysis"} <= set(GROUPS)


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


@pytest.mark.parametrize(
    "args,needle",
    [
        (["adapter=nope"], "adapter/nope"),
        (["layers.start=99", "model=tiny_llama"], "layers.start=99"),
        (["evals=[daily_dilemmas]", "evals.daily_dilemmas.path=/missing.csv", "model=tiny_llama"], "/missing.csv"),
        (["evals=[builtin,truthfulqa]", "evals.truthfulqa.path=/missing.csv", "model=tiny_llama"], "evals.truthfulqa.path: no such file /missing.csv"),
        (["evals=[builtin,nope]", "model=tiny_llama"], "Could not load 'evals/nope'. (available: builtin, daily_dilemmas, sentiment, truthfulqa)"),
        (["evals=[truthfulqa]", "evals.truthfulqa.task=nope", "model=tiny_llama"], "evals.truthfulqa.task='nope': unknown task"),
        (["eval.limit=0", "model=tiny_llama"], "eval.limit=0"),
        (["evals.builtin.limit=-5", "model=tiny_llama"], "evals.builtin.limit=-5"),
        (["evals.builtin.limit=1", "evals.builtin.val_fraction=0.9", "model=tiny_llama"], "evals.builtin: no reported dilemma left"),
        (["evals.builtin.target=no_such_value", "model=tiny_llama"], "evals.builtin.target='no_such_value'"),
        (["adapter=ipissa", "adapter.r=-1", "model=tiny_llama"], "adapter.r=-1 must be an integer >= 1"),
        (["model.dtype=float99", "model=tiny_llama"], "model.dtype='float99'"),
        (["train.steps=0", "model=tiny_llama"], "train.steps=0 must be an integer >= 1"),
        (["+eval.limt=20", "model=tiny_llama"], "eval.limt: unknown key (did you mean eval.limit?)"),
        (["+adapter.unknown=1", "model=tiny_llama"], "Key 'unknown' not in 'PCAConfig'"),
        (["adapter=prompt", "eval.coeffs=[-2,-1,0,1,2]", "model=tiny_llama"], "coefficients"),
        (["eval.coeffs=[0,1]", "model=tiny_llama"], "eval.coeffs"),
        (["strength.target=0", "model=tiny_llama"], "strength.target=0"),
        (["strength.prompts=/missing.json", "model=tiny_llama"], "strength.prompts: no such file /missing.json"),
        (["eval.samples=99", "model=tiny_llama"], "eval.samples=99"),
    ],
)
def test_bad_input_is_one_line_and_before_the_model_loads(tmp_path, args, needle):
    proc = launch(args, tmp_path)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr
    assert "loaded " not in proc.stderr + proc.stdout  # models.load logs "loaded <model>"; no wall-time bound, which a busy runner breaks
    assert not (tmp_path / "outputs").exists() or not list((tmp_path / "outputs").rglob("summary.json"))


def test_malformed_truthfulqa_file_fails_before_the_model_loads(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Question,Best Answer,Correct Answers\nIs it?,Yes,Yes\n")
    proc = launch(["evals=[builtin,truthfulqa]", f"evals.truthfulqa.path={bad}", "model=tiny_llama"], tmp_path)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "evals.truthfulqa.path" in lines[0] and "lacks column(s) ['Incorrect Answers']" in lines[0]
    assert "loaded" not in proc.stdout + proc.stderr  # no model work
