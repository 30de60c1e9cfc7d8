"""The headline's sentences (steerlab.report.sentences): the ladder sentence does not call a method without a ladder
incoherent; the equal-KL comparison shows both methods' standing against the random cone."""

import numpy as np
import pandas as pd

from steerlab.report.sentences import compare, ladder_words


def methods(rungs_of_prompt: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": ["prompt", "pca", "lora"],
            "max_dose_mean": [np.nan, 2.0, np.nan],
            "max_dose_kl_mean": [np.nan, 0.8, np.nan],
            "effect_at_max_dose_mean": [np.nan, 0.3, np.nan],
            "anti_steerable_mean": [0.5, 0.1, 0.4],
            "ladder_rungs_mean": [rungs_of_prompt, 5.0, 2.0],
            "kl(+1)": [0.07, 0.25, 0.25],
        }
    )


def test_prompting_has_no_ladder_and_is_not_called_incoherent():
    dose = ladder_words(methods(rungs_of_prompt=0.0))[0]
    assert "pca |c| ≤ 2" in dose
    assert "incoherent already at the smallest rung: lora;" in dose
    assert "no ladder (no dose to scale): prompt." in dose


def test_a_walked_ladder_without_a_coherent_rung_is_incoherent():
    dose = ladder_words(methods(rungs_of_prompt=2.0))[0]
    assert "incoherent already at the smallest rung: prompt, lora." in dose
    assert "no ladder" not in dose


def row(method: str, gain: float, low: float, high: float, effect: float, p: float) -> pd.Series:
    return pd.Series(
        {
            "method": method,
            "gain_mean": gain,
            "gain_sd": 0.1,
            "ci_low": low,
            "ci_high": high,
            "effect_mean": effect,
            "effect_sd": 0.02,
            "cone_p": p,
        }
    )


def test_the_equal_kl_comparison_reads_gain_cis_and_shows_the_cone_p():
    a, b = row("ipissa", 2.0, 1.5, 2.5, 0.30, 0.048), row("pca", 0.5, 0.1, 0.9, -0.20, 0.952)
    text = compare(a, b)
    assert text.startswith("**ipissa beats pca**")
    assert "against the cone: ipissa (p = 0.048, Effect 0.300 ± 0.020) vs pca (p = 0.952, Effect -0.200 ± 0.020)" in text
    assert compare(b, a).startswith("**pca loses to ipissa**")
    assert "against the cone" not in compare(a, b.drop("cone_p"))  # a sweep without a cone: Gain only
