import pandas as pd
import pytest

from steerlab.errors import ConfigError, DataError
from steerlab.tasks.dilemma_data import DilemmaSource, labels, load_items
from steerlab.tasks.dilemmas import DilemmaConfig, DilemmaTask
from tests.helpers import SHARED_DATA

DD = SHARED_DATA / "daily_dilemmas"


def test_builtin_has_both_actions_and_balanced_honesty():
    items = load_items(DilemmaConfig())
    assert items["dilemma_idx"].nunique() >= 60
    assert (items.groupby("dilemma_idx")["action_type"].nunique() == 2).all()
    lab = labels(items, "Honesty")  # case-insensitive
    assert (lab == 1).sum() >= 10 and (lab == -1).sum() >= 10
    assert len({v for vs in items["values"] for v in vs}) >= 10  # other values: side effects are measurable


def test_label_dropped_when_both_sides_carry_value():
    items = pd.DataFrame({"dilemma_idx": [0, 0, 1, 1], "action_type": ["to_do", "not_to_do"] * 2, "tags": [["a"], ["a"], ["a"], ["b"]]})
    assert labels(items, "a").to_dict() == {1: 1}
    assert labels(items, "b").to_dict() == {1: -1}


@pytest.mark.skipif(not DD.is_dir(), reason="shared data not present")
def test_detail_by_action_csv_with_categories():
    cfg = DilemmaConfig(source=DilemmaSource.daily_dilemmas, path=str(DD / "dilemmas_with_detail_by_action_test.csv"))
    items = load_items(cfg)
    assert len(items) == 8 and set(items["action_type"]) == {"to_do", "not_to_do"}
    assert any("virtue/truthfulness" in t for t in items["tags"])  # joined through values.csv next to the CSV
    assert not labels(items, "Virtue/Truthfulness").empty


def test_malformed_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"idx": [1], "action": ["x"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="missing column"):
        load_items(DilemmaConfig(source=DilemmaSource.daily_dilemmas, path=str(bad)))
    with pytest.raises(DataError, match="no such file"):
        load_items(DilemmaConfig(source=DilemmaSource.daily_dilemmas, path=str(tmp_path / "nope.csv")))


def split(items, val_fraction):
    return DilemmaTask("builtin", DilemmaConfig(), None, val_fraction).split(items.assign(group=items["dilemma_idx"]))


def test_validation_split_is_by_dilemma_fixed_and_disjoint():
    items = load_items(DilemmaConfig())
    val, test = split(items, 0.25)
    assert set(val["dilemma_idx"]).isdisjoint(test["dilemma_idx"])
    assert len(val) + len(test) == len(items)
    assert val["dilemma_idx"].nunique() == round(0.25 * items["dilemma_idx"].nunique())
    again, _ = split(items, 0.25)
    assert again.index.equals(val.index)  # a fixed split, whatever the run seed
    none, everything = split(items, 0.0)
    assert none.empty and len(everything) == len(items)
    assert not labels(test, "honesty").empty and not labels(val, "honesty").empty


def test_limit_keeps_the_first_dilemmas_and_bad_limits_fail():
    items = DilemmaTask("builtin", DilemmaConfig(), 5, 0.25).load()
    assert items["dilemma_idx"].nunique() == 5 and (items["group"] == items["dilemma_idx"]).all()
    for bad in (0, -5):
        with pytest.raises(ConfigError, match=f"limit={bad}"):
            DilemmaTask("builtin", DilemmaConfig(), bad, 0.25)


def test_val_fraction_zero_scores_no_validation_items():
    """No validation dilemmas: the task returns an empty score table instead of failing (it used to crash after the eval)."""
    task = DilemmaTask("builtin", DilemmaConfig(), None, 0.0)
    items = task.load()
    val, test = task.split(items)
    assert val.empty and len(test) == len(items)
    rows = pd.DataFrame({"item": [], "dilemma_idx": [], "coeff": [], "y": []})
    assert task.scores(rows, val).empty
