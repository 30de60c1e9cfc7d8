"""The Effect-vs-KL plot (SPEC §9–§10) draws what has a ladder and is left out when nothing in its section has one."""

import numpy as np
import pandas as pd

from steerlab.record import Status
from steerlab.report.sweep import effect_kl_plot


def rows(method: str, kl: float, effect: float) -> dict:
    return {"method": method, "status": Status.computed, "kl(+1)": kl, "kl(-1)": kl, "S(+1)": effect, "S(-1)": -effect}


def test_a_section_without_any_ladder_gets_no_plot(tmp_path):
    """Prompting alone (no KL at any rung, no cone yet): no log axis over nothing, no file, no error."""
    table = pd.DataFrame([rows("prompt", np.nan, 0.1)])
    assert effect_kl_plot(table, table, ["method"], tmp_path / "p.png") is None
    assert not (tmp_path / "p.png").exists()


def test_a_section_with_a_ladder_is_drawn_beside_a_method_without_one(tmp_path):
    table = pd.DataFrame([rows("prompt", np.nan, 0.1), rows("pca", 0.25, 0.2)])
    frame = pd.DataFrame([*table.to_dict("records"), *[rows("random", 0.25, e) for e in (-0.05, 0.0, 0.05)]])
    path = effect_kl_plot(table, frame, ["method"], tmp_path / "p.png")
    assert path == tmp_path / "p.png" and path.stat().st_size > 1000
