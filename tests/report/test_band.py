"""The random cone (SPEC §9): empirical p-values of a setting's Effect against random directions, on planted effects."""

import numpy as np
import pandas as pd
import pytest

from steerlab.report.aggregate import aggregate
from steerlab.report.band import cone_p, cone_p_mean, cone_verdict, mark
from steerlab.report.load import kl_sides


def frame(planted: dict[str, list[float]], n_random: int = 20, seed: int = 0) -> pd.DataFrame:
    """Cells of one context: `n_random` random directions with Effect ~ N(0, 0.1), and each planted method's seeds."""
    rng = np.random.default_rng(seed)
    rows = [{"adapter": "random", "method": "random", "seed": str(i), "effect": e} for i, e in enumerate(rng.normal(0, 0.1, n_random))]
    rows += [{"adapter": m, "method": m, "seed": str(i), "effect": e} for m, effects in planted.items() for i, e in enumerate(effects)]
    out = pd.DataFrame(rows).assign(status="computed", task="t")
    for col in (
        "gain",
        "rho",
        "delta_nll",
        "val_gain",
        "n_items",
        "coverage",
        "kl_plus",
        "kl_minus",
        "kl_target",
        "strength_scale",
        "gain_ci_low",
        "gain_ci_high",
        "anti_steerable",
        "slope_sd",
    ):
        out[col] = out["effect"] if col == "gain" else 0.0
    return kl_sides(out.assign(strength_bracket_hit=False))


def test_cone_p_is_the_rank_of_the_effect_among_random_directions():
    null = np.arange(20) / 10.0  # 0.0 … 1.9
    assert cone_p(5.0, null) == pytest.approx(1 / 21)  # above every direction: the smallest p 20 directions allow
    assert cone_p(-5.0, null) == pytest.approx(1.0)  # below every one
    assert cone_p(1.0, null) == pytest.approx((1 + 10) / 21)  # ties count against the setting
    assert [cone_verdict(p) for p in (1 / 21, 0.5, 1.0)] == ["beats random", "indistinguishable", "wrong way"]
    assert cone_verdict(cone_p(5.0, null[:9])) == "indistinguishable"  # 9 directions cannot reach p < 0.05
    # a mean over 3 seeds against the means of 3 of the 20 directions (1140 subsets): 1.8 is beaten only by {1.7, 1.8, 1.9}'s 1.8
    assert cone_p_mean(1.8, null, 3) == pytest.approx(2 / 1141) and cone_p_mean(1.85, null, 1) == cone_p(1.85, null)


def test_a_planted_direction_beats_the_cone_and_a_reversed_one_is_flagged_wrong_way():
    cells = frame({"planted": [0.9, 1.0, 1.1], "reversed": [-0.9, -1.0, -1.1], "noise": [0.02, -0.03, 0.01]})
    keys = ["adapter", "seed"]
    table = mark(aggregate(cells, keys), cells, keys).set_index("adapter")
    assert table.loc["planted", "vs_random"] == "beats random" and table.loc["planted", "cone_p"] == pytest.approx(1 / 1141)
    assert table.loc["reversed", "vs_random"] == "wrong way" and table.loc["noise", "vs_random"] == "indistinguishable"
    assert table.loc["random", "vs_random"] == "(null)" and table.loc["planted", "cone_n"] == 20
    assert table.loc["planted", "cone_p_seeds"] == " / ".join(["0.0476"] * 3)


def test_the_mean_over_seeds_is_tested_against_means_when_a_swept_key_is_unset_in_the_section():
    # as in the headline grid: `data` is set only for the positive control's cells, so it is NaN in the honesty section
    cells = frame({"planted": [0.9, 1.0, 1.1]}).assign(data=np.nan)
    keys = ["data", "adapter", "seed"]
    table = mark(aggregate(cells, keys), cells, keys).set_index("adapter")
    assert table.loc["planted", "cone_p"] == pytest.approx(1 / 1141)  # against means of 3 directions, not single ones
    assert table.loc["planted", "cone_p_seeds"] == " / ".join(["0.0476"] * 3)
