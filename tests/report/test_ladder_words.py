"""The headline's ladder sentence (steerlab.report.sentences.ladder_words): a method without a ladder is not called
incoherent."""

import numpy as np
import pandas as pd

from steerlab.report.sentences import ladder_words


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
