"""The report's columns (steerlab.report.sweep.COLUMNS): what a reader sees for measured and unmeasured values."""

import numpy as np
import pandas as pd

from steerlab.report.sweep import formatted


def test_a_dose_that_was_not_measured_reads_as_a_dash_not_nan():
    table = pd.DataFrame(
        {
            "method": ["prompt", "pca"],
            "max_dose_mean": [np.nan, 2.0],
            "max_dose_sd": [np.nan, 0.0],
            "effect_at_max_dose_mean": [np.nan, 0.5],
            "effect_at_max_dose_sd": [np.nan, np.nan],
        }
    )
    shown = formatted(table, ["method"], ["largest coherent dose", "Effect there"])
    assert shown.iloc[0].tolist() == ["prompt", "—", "—"]
    assert shown.iloc[1].tolist() == ["pca", "2.000 ± 0", "0.500"]


def test_plot_labels_name_only_the_keys_that_tell_settings_apart():
    from steerlab.report.sweep import label_of, varying

    table = pd.DataFrame({"data": [np.nan, np.nan], "evals": ["[builtin]"] * 2, "adapter": ["pca", "lora"], "seed": ["0", "1"]})
    keys = varying(table, ["data", "evals", "adapter", "seed"])
    assert keys == ["adapter"] and label_of(table.iloc[1], keys) == "adapter=lora"
    assert varying(table.iloc[:1], ["data", "evals", "adapter", "seed"]) == ["evals"]  # one setting: the first key it sets
