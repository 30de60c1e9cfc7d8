"""The headline sweep (sweeps/headline.yaml): a union of grids, one report section per model and eval, and the
README part that `python -m steerlab.report.headline` writes from it."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from steerlab.grid import expand
from steerlab.report.aggregate import aggregate, t_half
from steerlab.report.headline import END, START, expected_cells
from steerlab.report.load import METRICS, kl_sides
from steerlab.report.sentences import Focus, effect_direction, low_coverage, off_budget
from tests.helpers import REPO_ROOT, launch, only_sweep, statuses, write_csv

FOCUS = Focus("ipissa", ("prompt", "pca"), "sentiment", ("mean", "pca"), "honesty")
GRIDS = "hydra.sweeper.grids=[{adapter:prompt,seed:'0'},{adapter:random,seed:'0,1'},{adapter:'pca,random',seed:'0'}]"


def test_grids_are_a_union_merged_over_params_and_the_command_line_wins():
    cells = expand({"model": "a,b"}, [{"adapter": "prompt", "seed": "0"}, {"adapter": "random", "seed": "0,1,2,3,4"}], ["seed=7"])
    assert cells == [
        ["model=a", "adapter=prompt", "seed=7"],
        ["model=b", "adapter=prompt", "seed=7"],
        ["model=a", "adapter=random", "seed=7"],
        ["model=b", "adapter=random", "seed=7"],
    ]
    assert expand({"adapter": "pca,mean"}, [], []) == [["adapter=pca"], ["adapter=mean"]]  # no grids: the basic sweeper


def test_low_coverage_is_said_with_the_methods_that_have_it():
    table = pd.DataFrame({"method": ["prompt", "pca", "random"], "coverage_mean": [0.24, 1.0, 0.5], "n_items_mean": [13.0, 54.0, 27.0]})
    (line,) = low_coverage(table)
    assert "prompt (0.240, 13 items)" in line and "random (0.500, 27 items)" in line and "pca" not in line
    assert low_coverage(table[table["method"] == "pca"]) == []


def per_method(cells: list[tuple]) -> pd.DataFrame:
    """The aggregated table the headline reads, from (method, seed, KL(+1), KL(−1), bracket hit) cells."""
    frame = pd.DataFrame(cells, columns=["adapter", "seed", "kl_plus", "kl_minus", "strength_bracket_hit"])
    frame = frame.assign(
        method=frame["adapter"],
        status="computed",
        gain=0.0,
        gain_ci_low=0.0,
        gain_ci_high=0.0,
        kl_target=[float("nan") if a == "prompt" else 0.25 for a in frame["adapter"]],
    )
    frame = frame.reindex(columns=[*frame.columns, *[m for m in METRICS if m not in frame]])
    return aggregate(kl_sides(frame), ["adapter", "seed"])


def test_the_kl_budget_binds_the_larger_sign_of_each_cell_and_a_lopsided_method_is_said_apart():
    table = per_method(
        [
            ("prompt", 0, 0.079, 0.090, False),
            ("pca", 0, 0.248, 0.231, False),
            ("pca", 1, 0.25, 0.24, False),
            ("lora", 0, 0.254, 0.083, False),
            ("mean", 0, 0.12, 0.14, True),
            ("flip", 0, 0.251, 0.092, False),
            ("flip", 1, 0.093, 0.247, False),
            ("flip", 2, 0.255, 0.104, False),
        ]
    )
    off, lopsided = off_budget(table)
    assert "prompt (+0.079 / −0.090)" in off and "mean (+0.120 / −0.140)" in off and "mean hit the edge" in off
    assert "pca" not in off and "lora" not in off and "flip" not in off  # the larger KL of each cell is the budget (SPEC §8)
    assert "lora (+0.254 / −0.083)" in lopsided and "pca" not in lopsided
    # per sign the means (+0.200 / −0.148) hide it; per cell the larger is at 0.251 and the smaller at 0.096
    assert "flip (+0.200 / −0.148; per seed the larger 0.251, the smaller 0.096, on either sign)" in lopsided
    (line,) = off_budget(table[table["method"] == "pca"])
    assert line.startswith("Every method reached the KL budget")


def test_an_effect_reliably_against_the_calibrated_sign_is_said_though_gain_is_0():
    table = pd.DataFrame(
        {
            "method": ["pca", "mean", "lora", "prompt"],
            "n": [3, 3, 3, 1],
            "effect_mean": [-0.059, 0.05, -0.01, -0.5],
            "effect_sd": [0.009, 0.005, 0.03, float("nan")],
        }
    )
    half = t_half(table["effect_sd"], table["n"])  # as sweep.aggregate adds them
    table = table.assign(effect_ci_low=table["effect_mean"] - half, effect_ci_high=table["effect_mean"] + half)
    up, down = effect_direction(table)
    assert "mean (0.050, CI" in up and "pca" not in up
    assert "pca (-0.059, CI -0.081 to -0.037)" in down and "lora" not in down and "prompt" not in down  # 1 seed: no t interval
    assert effect_direction(table[table["method"] == "lora"]) == []
    narrow = table.assign(band_effect_low=-0.04, band_effect_high=0.04)  # as band.mark adds them
    up, down = effect_direction(narrow)
    assert "mean (0.050, CI 0.038 to 0.062; outside)" in up and "pca (-0.059, CI -0.081 to -0.037; outside)" in down
    wide = table.assign(band_effect_low=-0.1, band_effect_high=0.1)
    assert "inside)" in effect_direction(wide)[1] and "band (mean ± 2 sd): -0.100 to 0.100" in effect_direction(wide)[1]


@pytest.mark.slow
def test_headline_sweep_reports_each_model_and_eval_and_writes_the_readme_section(tmp_path):
    csv = write_csv(tmp_path / "tqa.csv")
    args = [
        "--config-dir",
        str(REPO_ROOT / "sweeps"),
        "--config-name",
        "headline",
        "model=tiny_llama,tiny_qwen3",
        "experiment=quick",
        "evals.builtin.pmass_min=0",
        "layers.start=1",
        "layers.loss=5",
        f"evals.truthfulqa.path={csv}",
        "logger=none",
        "eval.samples=0",
        "cone_min=0",
        GRIDS,
    ]
    proc = launch(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sweep of 10 cells: 8 to compute, 0 reuse a finished run, 2 repeat another cell's identity" in proc.stdout + proc.stderr
    sweep = only_sweep(tmp_path)
    assert list(statuses(sweep).values()).count("reused") == 2  # random seed 0 of the last grid, per model
    assert len(expected_cells(sweep)) == 8  # (model, adapter, seed) triples: twins counted once

    table = pd.read_csv(sweep / "report" / "sweep.csv")
    assert set(zip(table["model"], table["task"])) == {(m, t) for m in ("tiny_llama", "tiny_qwen3") for t in ("builtin", "truthfulqa")}
    for model, task in (("tiny_llama", "builtin"), ("tiny_qwen3", "truthfulqa")):
        part = table[(table["model"] == model) & (table["task"] == task)].set_index("adapter")
        assert dict(part["n"]) == {"prompt": 1, "random": 2, "pca": 1}
        for kind in ("pareto", "gain", "dose_response", "effect_kl"):
            assert (sweep / "report" / f"{kind}_{task}_{model}.png").stat().st_size > 0
    report = (sweep / "report" / "sweep.md").read_text()
    assert "## builtin — tiny_llama" in report and "## truthfulqa — tiny_qwen3" in report

    readme, page, docs = tmp_path / "README.md", tmp_path / "docs" / "headline.md", tmp_path / "docs" / "headline"
    readme.write_text(f"# title\n\nbefore\n{START}\nstale text\n{END}\nafter\n")
    command = [
        sys.executable,
        "-m",
        "steerlab.report.headline",
        str(sweep),
        "--readme",
        str(readme),
        "--page",
        str(page),
    ]  # no --docs: the plots go beside the page, in docs/headline/
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr
    text, full = readme.read_text(), page.read_text()
    assert text.startswith("# title\n\nbefore\n") and text.endswith(f"{END}\nafter\n") and "stale text" not in text
    # the README: the control per model, one row per (model, eval, method), the focus method against its peers, a link
    header = next(ln for ln in text.splitlines() if ln.startswith("| model"))
    want = ["model", "eval", "method", "seeds", "Effect", "p vs cone (N)", "verdict", "anti-steerable", "largest coherent dose"]
    assert [c.strip() for c in header.strip("|").split("|")][:8] == want[:8]
    rows = [ln for ln in text.splitlines() if ln.startswith("| tiny_")]
    assert len(rows) == 2 * 2 * 3  # 2 models × 2 evals × (prompt, pca, random)
    assert "[the headline page](docs/headline.md)" in text and "![" not in text
    # the page: every table, sentence and plot
    for model in ("tiny_llama", "tiny_qwen3"):
        assert f"**Positive control on {model}: not run yet**" in text and f"**Positive control on {model}: not run yet**" in full
        assert f"## {model}" in full and f"### {model} — truthfulqa" in full
        assert f"![{model} builtin: Effect vs ΔNLL](headline/pareto_builtin_{model}.png)" in full
        assert (docs / f"effect_kl_truthfulqa_{model}.png").is_file()
    assert full.count("Best by mean Gain") == 4 and full.count("Against a cone of 2 random directions") == 4
    assert full.count("Largest coherent dose") == 4 and full.count("Anti-steerable share") == 4 and "p vs cone (N)" in full
    assert full.count("ipissa has not finished here yet") == 4  # not in this small grid: said, not skipped
    assert "MC1 (−1 / 0 / +1)" in full.split("### tiny_llama — truthfulqa")[1].split("###")[0]
    assert "Not finished yet" not in text + full

    (sweep / "1_prompt" / "status.json").write_text(
        json.dumps({"status": "failed", "error": "x", "overrides": ["model=tiny_qwen3", "adapter=prompt", "seed=0"]})
    )
    out = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    assert "**Not finished yet: 1 of 8 cells** — tiny_qwen3: prompt." in readme.read_text()
    assert "**Not finished yet: 1 of 8 cells**" in page.read_text()


def test_a_headline_sweep_with_a_small_cone_is_refused_before_any_job(tmp_path):
    args = ["--config-dir", str(REPO_ROOT / "sweeps"), "--config-name", "headline", "model=tiny_llama", "logger=none", GRIDS]
    proc = launch(args, tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0, proc.stderr[-2000:]
    assert "cone_min=20: the sweep has 2 random direction(s) for model=tiny_llama" in proc.stderr
    assert not (tmp_path / "outputs").exists()
    small = launch([*args, "cone_min=5"], tmp_path)
    assert small.returncode == 2 and "cannot test anything" in small.stderr


def test_a_positive_control_passes_only_when_a_simple_method_beats_the_cone():
    from steerlab.report.sentences import control_line

    table = pd.DataFrame(
        {
            "task": ["sentiment"] * 3,
            "method": ["mean", "pca", "random"],
            "cone_n": [20, 20, 20],
            "cone_p": [0.048, 0.2, float("nan")],
            "vs_random": ["beats random", "indistinguishable", "(null)"],
            "effect_mean": [0.3, 0.1, 0.0],
            "effect_sd": [float("nan")] * 3,
        }
    )
    assert "passed** — mean beats a cone of 20" in control_line("m", table, FOCUS)
    failed = control_line("m", table.assign(vs_random=["indistinguishable", "wrong way", "(null)"]), FOCUS)
    assert "FAILED" in failed and "mean (p = 0.048" in failed
    assert "not run yet" in control_line("m", table.iloc[0:0], FOCUS)
    small = table.assign(cone_n=14, cone_p=[1 / 15, 0.2, float("nan")], vs_random=["indistinguishable", "indistinguishable", "(null)"])
    undecided = control_line("m", small, FOCUS)  # 14 directions: p >= 1/15 whatever the Effect, so no verdict yet
    assert "undecided" in undecided and "FAILED" not in undecided and "at least 20" in undecided


def test_headline_without_markers_or_sweep_is_one_line(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    out = subprocess.run(
        [sys.executable, "-m", "steerlab.report.headline", str(tmp_path), "--readme", str(readme)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0 and "not a multirun folder" in out.stderr
