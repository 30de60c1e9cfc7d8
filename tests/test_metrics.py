"""Metrics on small hand-worked examples (SPEC §6)."""

import math

import numpy as np
import pandas as pd
import pytest

from steerlab.config import MetricConfig
from steerlab.metrics import summarize as shared_summary
from steerlab.tasks.dilemmas import DilemmaConfig, DilemmaTask, item_y

COEFFS = [-1.0, 0.0, 1.0]


def make(logratios: dict, nll=None, pmass=None, tags=None):
    """logratios: {(dilemma, action_type): [lr(-1), lr(0), lr(1)]}; the target 'honesty' sits on to_do."""
    tags = tags or {}
    items = pd.DataFrame(
        [{"dilemma_idx": d, "action_type": a, "tags": tags.get((d, a), ["honesty"] if a == "to_do" else [])} for d, a in logratios]
    )
    rows = []
    for i, ((d, a), lrs) in enumerate(logratios.items()):
        for j, c in enumerate(COEFFS):
            rows.append(
                {
                    "item": i,
                    "dilemma_idx": d,
                    "action_type": a,
                    "coeff": c,
                    "logratio": lrs[j],
                    "pmass": (pmass or {}).get((i, c), 0.9),
                    "nll": (nll or {}).get(c, 2.0),
                }
            )
    return item_y(pd.DataFrame(rows), 0.05), items


CFG = MetricConfig(n_boot=200)
TASK = DilemmaTask("builtin", DilemmaConfig(target="honesty"), None, 0.25)


def summarize(res, items):
    """The shared metrics on the dilemma task's scores, plus its side effects and per-value table."""
    extra, table = TASK.extras(res, items, CFG)
    return {**shared_summary(TASK.scores(res, items), res, CFG), **extra}, table


def test_perfect_monotone_gain_100():
    res, items = make({(0, "to_do"): [-1, 0, 1], (0, "not_to_do"): [3, 2, 1], (1, "to_do"): [4, 5, 6], (1, "not_to_do"): [1, 0, -1]})
    s, _ = summarize(res, items)
    assert s["effect"] == pytest.approx(1.0) and s["rho"] == pytest.approx(1.0) and s["gain"] == pytest.approx(100.0)
    assert s["n_items"] == 4 and s["coverage"] == 1.0 and s["delta_nll"] == 0.0


def test_hand_worked_ties():
    # to_do y*label = [0, 1, 3], not_to_do = [0, 0, 0]; ranks worked by hand give rho = 10 / sqrt(16 * 15.5)
    res, items = make({(0, "to_do"): [0, 1, 3], (0, "not_to_do"): [0, 0, 0]})
    s, _ = summarize(res, items)
    rho = 10 / math.sqrt(16 * 15.5)
    assert s["rho"] == pytest.approx(rho) and s["effect"] == pytest.approx(0.75)
    assert s["gain"] == pytest.approx(100 * 0.75 * rho)
    assert s["slope_mean"] == pytest.approx(0.75) and s["t"] == pytest.approx(1.0)


def test_reversed_sign_is_gated_to_zero():
    res, items = make({(0, "to_do"): [1, 0, -1], (0, "not_to_do"): [-1, 0, 1], (1, "to_do"): [2, 1, 0], (1, "not_to_do"): [0, 1, 2]})
    s, _ = summarize(res, items)
    assert s["effect"] == pytest.approx(-1.0) and s["rho"] == pytest.approx(-1.0) and s["gain"] == 0.0
    assert s["t"] < 0


def test_label_minus_one_when_not_to_do_carries_value():
    tags = {(0, "to_do"): [], (0, "not_to_do"): ["honesty"]}
    res, items = make({(0, "to_do"): [1, 0, -1], (0, "not_to_do"): [-1, 0, 1]}, tags=tags)
    s, _ = summarize(res, items)
    assert s["effect"] == pytest.approx(1.0) and s["gain"] == pytest.approx(100.0)


def test_nan_items_excluded_and_coverage_reported():
    res, items = make(
        {(0, "to_do"): [-1, 0, 1], (0, "not_to_do"): [1, 0, -1], (1, "to_do"): [-1, 0, 1], (1, "not_to_do"): [9, 9, 9]},
        pmass={(3, 0.0): 0.01},
    )
    s, _ = summarize(res, items)
    assert s["n_items"] == 3 and s["n_labelled"] == 4 and s["coverage"] == pytest.approx(0.75)
    assert s["gain"] == pytest.approx(100.0)


def test_constant_scores_give_nan_rho_and_zero_gain():
    res, items = make({(0, "to_do"): [1, 1, 1], (0, "not_to_do"): [2, 2, 2], (1, "to_do"): [0, 0, 0], (1, "not_to_do"): [0, 0, 0]})
    s, _ = summarize(res, items)
    assert np.isnan(s["rho"]) and s["effect"] == 0.0 and s["gain"] == 0.0 and np.isnan(s["t"])


def test_delta_nll_divides_gain():
    res, items = make({(0, "to_do"): [-1, 0, 1], (0, "not_to_do"): [1, 0, -1]}, nll={-1.0: 2.5, 0.0: 2.0, 1.0: 3.0})
    s, _ = summarize(res, items)
    assert s["delta_nll"] == pytest.approx(1.0) and s["gain"] == pytest.approx(50.0)


def test_side_effects_and_bootstrap_ci():
    tags = {(d, "to_do"): ["honesty", "loyalty"] for d in range(4)}
    lrs = {(d, a): ([-1, 0, 1] if a == "to_do" else [0.5 * d, 0.5 * d, 0.5 * d]) for d in range(4) for a in ("to_do", "not_to_do")}
    res, items = make(lrs, tags={**tags, **{(d, "not_to_do"): [] for d in range(4)}})
    s, table = summarize(res, items)
    assert "loyalty" in set(table["value"])
    assert s["side_effects"] == pytest.approx(0.5)  # loyalty moves like the to_do items: |(S(+1)-S(-1))/2| = 0.5
    assert s["gain_ci_low"] <= s["gain"] <= s["gain_ci_high"]


def test_steerability_counts_items_moving_against_the_calibrated_sign():
    from steerlab.metrics import steerability

    ladder = pd.DataFrame(
        {
            -2.0: [-2.0, 2.0, 0.0, -1.0],
            -1.0: [-1.0, 1.0, 0.0, -0.5],
            0.0: [0.0, 0.0, 0.0, 0.0],
            1.0: [1.0, -1.0, 0.0, 0.5],
            2.0: [2.0, -2.0, 0.0, 1.0],
        }
    )  # slopes 1, −1, 0, 0.5: one item against the sign, one flat
    out = steerability(ladder)
    assert out["anti_steerable"] == 0.25 and out["slope_sd"] == pytest.approx(np.std([1, -1, 0, 0.5], ddof=1))
    three = ladder[[-1.0, 0.0, 1.0]]  # with −1, 0, +1 alone the slope is (y(+1) − y(−1)) / 2
    assert steerability(three)["anti_steerable"] == 0.25 and steerability(three)["slope_iqr"] == pytest.approx(
        np.subtract(*np.percentile([1, -1, 0, 0.5], [75, 25]))
    )
