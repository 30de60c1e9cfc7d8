"""The dose-response ladder walked to incoherence (steerlab.ladder, SPEC §10–§11), on the tiny model."""

import json
import math

import pandas as pd
import pytest
import torch

from steerlab import ladder, models
from steerlab.api import context_for
from steerlab.config import StrengthConfig
from steerlab.errors import ConfigError
from steerlab.fitting import fit
from steerlab.methods.registry import build
from steerlab.steering import steer
from steerlab.strength import KLProbe, check
from tests.helpers import QUICK, compose_cfg, launch


@pytest.fixture(scope="module")
def fitted():
    """A PCA direction on the tiny model, its tokenizer and the calibration probe."""
    cfg = compose_cfg(["model=tiny_llama", "experiment=quick"])
    model, tok = models.load(cfg.model, 0)
    method = build(cfg.adapter)
    fit(method, context_for(cfg, model, tok))
    probe = KLProbe.build(model, tok, check(StrengthConfig()), 12, 32)
    return model, tok, method, probe


@pytest.mark.parametrize("rungs,words", [([0, 1], "> 0"), ([-1, 1], "> 0"), ([1, float("nan")], "finite"), ([0.5, 2], "must contain 1")])
def test_a_bad_ladder_is_refused_in_one_line(rungs, words):
    with pytest.raises(ConfigError) as err:
        ladder.check(rungs, [-1.0, 0.0, 1.0])
    assert str(err.value).startswith("eval.ladder=") and words in str(err.value) and "\n" not in str(err.value)


def test_distinct2_counts_repeated_bigrams():
    assert ladder.distinct2([1, 2, 3, 4]) == 1.0
    assert ladder.distinct2([7, 7, 7, 7, 7]) == pytest.approx(1 / 4)
    assert ladder.distinct2([5]) == 1.0


def test_rung_at_zero_is_the_base_model(fitted):
    """c = 0 of the ladder is the unsteered model: KL 0 exactly, the base continuations' NLL and repetition."""
    model, tok, method, probe = fitted
    method.scale = 50.0
    zero = ladder.rung(probe, model, tok, method, 0.0, "mean", 12)
    rule, info = ladder.base_rule(probe, model, tok, None, 0.5)
    assert zero["kl"] < 1e-6  # the probe's base log-probs come from generation (KV cache): equal to float rounding
    ids = tok(["Hello there"], return_tensors="pt")["input_ids"]
    with steer(model, method, 0.0):
        steered = model(ids).logits
    assert torch.equal(steered, model(ids).logits)  # c = 0 is the base model bit for bit
    assert zero["nll"] == pytest.approx(info["coherence_base_nll"], abs=1e-5)
    assert zero["distinct2"] == pytest.approx(info["coherence_base_distinct2"])
    assert rule.coherent(zero["nll"], zero["distinct2"])


def test_the_rule_fires_on_a_planted_broken_model_and_the_walk_stops_there(fitted):
    """A direction at scale 1e4 breaks the tiny model's text (one token repeated); at scale 1 it does not. The walk
    measures ±1, stops each side at ±1e4 and never measures ±1e5."""
    model, tok, method, probe = fitted
    method.scale = 1.0
    rule, _ = ladder.base_rule(probe, model, tok, None, 0.5)
    measured = []

    def measure(coeffs, fn):
        measured.extend(coeffs)
        return fn(coeffs)

    walked = ladder.walk(probe, model, tok, method, [1.0, 1e4, 1e5], rule, "mean", 12, measure)
    assert sorted(measured) == [-1e4, -1.0, 1.0, 1e4]
    by = walked.set_index("coeff")
    assert by.loc[1.0, "coherent"] and by.loc[-1.0, "coherent"]
    assert not by.loc[1e4, "coherent"] and not by.loc[-1e4, "coherent"]
    assert by.loc[1e4, "distinct2"] < rule.distinct_min or by.loc[1e4, "nll"] > rule.nll_max
    assert ladder.eval_coeffs([-1.0, 0.0, 1.0], walked) == [-1.0, 0.0, 1.0]
    assert ladder.max_dose(walked) == (1.0, max(by.loc[1.0, "kl"], by.loc[-1.0, "kl"]))


def test_max_dose_needs_both_sides_and_every_smaller_rung():
    walked = pd.DataFrame(
        {
            "coeff": [-2.0, -1.0, -0.5, 0.5, 1.0, 2.0],
            "kl": [0.9, 0.3, 0.1, 0.1, 0.2, 0.8],
            "coherent": [False, True, True, True, True, True],
        }
    )
    assert ladder.max_dose(walked) == (1.0, 0.3)
    walked.loc[2, "coherent"] = False
    m, kl = ladder.max_dose(walked)
    assert math.isnan(m) and math.isnan(kl)


def test_effect_curve_pairs_both_sides_of_each_rung():
    s = {
        "t/S(-2)": -3.0,
        "t/S(-1)": -1.0,
        "t/S(+0)": 0.0,
        "t/S(+1)": 1.0,
        "t/S(+2)": 5.0,
        "kl(+1)": 0.2,
        "kl(-1)": 0.3,
        "kl(+2)": 0.9,
        "kl(-2)": 0.7,
        "coherent(+1)": True,
        "coherent(-1)": True,
        "coherent(+2)": False,
        "coherent(-2)": True,
    }
    curve = ladder.effect_curve(s, "t")
    assert curve.to_dict("list") == {"m": [1.0, 2.0], "effect": [1.0, 4.0], "kl": [0.3, 0.9], "coherent": [True, False]}
    assert len(ladder.effect_curve({**s, "t/S(+2)": float("nan")}, "t")) == 1  # a rung with no scored item is left out


def test_the_ladder_reuses_one_fit_and_scores_tasks_at_coherent_rungs(tmp_path):
    """launch.py with a ladder: every coherent rung is scored, report.md has the ladder and the Effect-vs-KL plot; a
    second run with one more rung reuses the fit and the rungs already walked."""
    args = [*QUICK, "logger=none", "eval.samples=0", "eval.coherence_nll=1000", "eval.coherence_distinct=0.01"]
    first = launch([*args, "eval.ladder=[0.5,1]", f"out_dir={tmp_path}/a"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "KL ladder" in first.stdout and "ladder: coherent for |c| ≤ 1" in first.stdout
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert a["coeffs"] == [-1.0, -0.5, 0.0, 0.5, 1.0] and a["max_dose"] == 1.0 and math.isfinite(a["builtin/effect_at_max_dose"])
    assert a["builtin/effect_at_max_dose"] == pytest.approx(a["builtin/effect"])
    rows = pd.read_parquet(tmp_path / "a" / "results_builtin.parquet")
    assert sorted(rows["coeff"].unique()) == a["coeffs"]
    report = (tmp_path / "a" / "report.md").read_text()
    assert "effect_vs_kl_builtin.png" in report and "| +0.5 |" in report and (tmp_path / "a" / "effect_vs_kl_builtin.png").is_file()
    second = launch([*args, "eval.ladder=[0.5,1,2]", f"out_dir={tmp_path}/b"], tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert "fit reused" in log and "ladder: rows at c = +0.5" in log and "ladder: rows at c = -0.5" in log
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert b["fit_reused"] and b["max_dose"] == 2.0 and b["coeffs"] == [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
    assert {k: b[k] for k in a if k.startswith("kl(")} == {k: v for k, v in a.items() if k.startswith("kl(")}
    assert torch.isfinite(torch.tensor(b["builtin/effect_at_max_dose"]))


def test_a_bad_ladder_exits_2_before_the_model_loads(tmp_path):
    proc = launch([*QUICK, "logger=none", "eval.ladder=[0.5,2]"], tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "eval.ladder=" in proc.stderr, proc.stderr[-2000:]
    assert "loaded tiny_llama" not in proc.stdout + proc.stderr
