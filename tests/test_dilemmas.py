import pandas as pd
import pytest

from steerlab.config import EvalConfig, EvalSource
from steerlab.dilemmas import labels, load_items, split
from steerlab.errors import DataError

from .conftest import SHARED_DATA

DD = SHARED_DATA / "daily_dilemmas"


def test_builtin_has_both_actions_and_balanced_honesty():
    items = load_items(EvalConfig())
    assert items["dilemma_idx"].nunique() >= 60
    assert (items.groupby("dilemma_idx")["action_type"].nunique() == 2).all()
    lab = labels(items, "Honesty")  # case-insensitive
    assert (lab == 1).sum() >= 10 and (lab == -1).sum() >= 10
    assert len({v for vs in items["values"] for v in vs}) >= 10  # other values: side effects are measurable


def test_label_dropped_when_both_sides_carry_value():
    items = pd.DataFrame(
        {"dilemma_idx": [0, 0, 1, 1], "action_type": ["to_do", "not_to_do"] * 2, "tags": [["a"], ["a"], ["a"], ["b"]]}
    )
    assert labels(items, "a").to_dict() == {1: 1}
    assert labels(items, "b").to_dict() == {1: -1}


@pytest.mark.skipif(not DD.is_dir(), reason="shared data not present")
def test_detail_by_action_csv_with_categories():
    cfg = EvalConfig(source=EvalSource.daily_dilemmas, path=str(DD / "dilemmas_with_detail_by_action_test.csv"))
    items = load_items(cfg)
    assert len(items) == 8 and set(items["action_type"]) == {"to_do", "not_to_do"}
    assert any("virtue/truthfulness" in t for t in items["tags"])  # joined through values.csv next to the CSV
    assert not labels(items, "Virtue/Truthfulness").empty


def test_malformed_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"idx": [1], "action": ["x"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="missing column"):
        load_items(EvalConfig(source=EvalSource.daily_dilemmas, path=str(bad)))
    with pytest.raises(DataError, match="no such file"):
        load_items(EvalConfig(source=EvalSource.daily_dilemmas, path=str(tmp_path / "nope.csv")))


def test_validation_split_is_by_dilemma_fixed_and_disjoint():
    items = load_items(EvalConfig())
    val, test = split(items, 0.25)
    assert set(val["dilemma_idx"]).isdisjoint(test["dilemma_idx"])
    assert len(val) + len(test) == len(items)
    assert val["dilemma_idx"].nunique() == round(0.25 * items["dilemma_idx"].nunique())
    again, _ = split(items, 0.25)
    assert again.index.equals(val.index)  # a fixed split, whatever the run seed
    none, everything = split(items, 0.0)
    assert none.empty and len(everything) == len(items)
    assert not labels(test, "honesty").empty and not labels(val, "honesty").empty
