"""Dilemma items (SPEC §5): one row per (dilemma, action) with the action's values; builtin, CSV or Hugging Face."""

from __future__ import annotations

import ast
import json
import logging
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Optional

import pandas as pd

from steerlab.errors import DataError
from steerlab.fields import ranged
from steerlab.tasks.base import TaskConfig

log = logging.getLogger(__name__)
HF_DATASET = "kellycyy/daily_dilemmas"
ACTION_TYPES = ("to_do", "not_to_do")
CATEGORY_COLUMNS = ("WVS", "MFT", "Virtue", "Emotion", "Maslow")


class DilemmaSource(str, Enum):
    builtin = "builtin"  # steerlab's own 64 dilemmas (resources/dilemmas.json)
    daily_dilemmas = "daily_dilemmas"  # DailyDilemmas: a local CSV (path) or the Hugging Face dataset


class Scoring(str, Enum):
    yes_no = "yes_no"  # log p(Yes)/p(No) of the next token after "My choice:" (SPEC §5)
    likelihood = "likelihood"  # mean token log-prob of each action's text as the reply to the situation (issue 25)


@dataclass
class DilemmaConfig(TaskConfig):
    task: str = "dilemmas"
    source: DilemmaSource = DilemmaSource.builtin
    path: Optional[str] = None  # local CSV (daily_dilemmas); null = the Hugging Face dataset
    values_path: Optional[str] = None  # values.csv mapping value -> categories
    target: str = "honesty"  # a value or a category such as virtue/truthfulness
    pmass_min: float = ranged(0.05, "[0,1]")  # items with p(yes) + p(no) below this are not scored (NaN: lowers coverage); yes_no only
    scoring: Scoring = Scoring.likelihood  # likelihood or yes_no; chosen on validation dilemmas (docs/computed.md)


def builtin_items() -> pd.DataFrame:
    """The project's own dilemmas (resources/dilemmas.json), as eval items."""
    raw = json.loads(resources.files("steerlab.resources").joinpath("dilemmas.json").read_text())
    rows = [
        {
            "dilemma_idx": d["idx"],
            "situation": d["situation"],
            "action_type": kind,
            "action": d[kind]["action"],
            "values": d[kind]["values"],
        }
        for d in raw
        for kind in ACTION_TYPES
    ]
    return pd.DataFrame(rows)


def _as_list(cell) -> list[str]:
    if isinstance(cell, (list, tuple)):
        return [str(v) for v in cell]
    if not isinstance(cell, str) or not cell.strip():
        return []
    try:
        parsed = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        parsed = [v.strip() for v in cell.split(",")]
    return [str(v) for v in parsed if isinstance(v, str)]


def normalise(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Map either DailyDilemmas schema (values_aggregated or by-action values_names) to the item columns."""
    idx = next((c for c in ("dilemma_idx", "idx") if c in frame), None)
    values = next((c for c in ("values_aggregated", "values_names") if c in frame), None)
    missing = [n for n, c in (("dilemma_idx|idx", idx), ("values_aggregated|values_names", values)) if c is None]
    missing += [c for c in ("dilemma_situation", "action_type", "action") if c not in frame]
    if missing:
        raise DataError(f"{origin}: missing column(s) {missing}")
    bad = sorted(set(frame["action_type"]) - set(ACTION_TYPES))
    if bad:
        raise DataError(f"{origin}: unknown action_type value(s) {bad}; expected {list(ACTION_TYPES)}")
    out = pd.DataFrame(
        {
            "dilemma_idx": frame[idx].astype(int),
            "situation": frame["dilemma_situation"].astype(str),
            "action_type": frame["action_type"],
            "action": frame["action"].astype(str),
            "values": frame[values].map(_as_list),
        }
    )
    return out.drop_duplicates(["dilemma_idx", "action_type"]).reset_index(drop=True)


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{what}: no such file {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"{what}: cannot parse {path} ({e})") from None


def _hub(config: str) -> pd.DataFrame:
    try:
        from datasets import load_dataset
    except ImportError:
        raise DataError(
            "evals=[daily_dilemmas] without evals.daily_dilemmas.path needs "
            "`pip install datasets` (or set evals.daily_dilemmas.path to a CSV)"
        ) from None
    data = load_dataset(HF_DATASET, config)
    return data[next(iter(data))].to_pandas()


def value_categories(cfg: "DilemmaConfig") -> dict[str, list[str]]:
    """value -> ['mft/fairness', 'virtue/truthfulness', ...] from a values.csv (or the hub's Values config)."""
    if cfg.values_path:
        table = _read_csv(Path(cfg.values_path).expanduser(), "evals.daily_dilemmas.values_path")
    elif cfg.source == DilemmaSource.daily_dilemmas and cfg.path and (Path(cfg.path).expanduser().parent / "values.csv").is_file():
        table = _read_csv(Path(cfg.path).expanduser().parent / "values.csv", "values.csv")
    elif cfg.source == DilemmaSource.daily_dilemmas and not cfg.path:
        table = _hub("Values")
    else:
        return {}
    if "value" not in table:
        raise DataError("values table: missing column 'value'")
    cols = [c for c in table.columns if c in CATEGORY_COLUMNS]
    return {
        str(r["value"]).strip().lower(): [f"{c}/{r[c]}".lower() for c in cols if isinstance(r[c], str) and r[c].strip()]
        for _, r in table.iterrows()
    }


def load_items(cfg: "DilemmaConfig", limit: Optional[int] = None) -> pd.DataFrame:
    """Eval items with lower-cased `values` and `tags` (values plus their categories), complete dilemmas only; the first
    `limit` dilemmas."""
    if cfg.source == DilemmaSource.builtin:
        items = builtin_items()
    elif cfg.path:
        path = Path(cfg.path).expanduser()
        items = normalise(_read_csv(path, "evals.daily_dilemmas.path"), str(path))
    else:
        items = normalise(_hub("Dilemmas_with_values_aggregated"), HF_DATASET)
    cats = value_categories(cfg)
    items["values"] = items["values"].map(lambda vs: sorted({v.strip().lower() for v in vs}))
    items["tags"] = items["values"].map(lambda vs: sorted(set(vs) | {c for v in vs for c in cats.get(v, [])}))
    items = _complete(items)
    if limit:
        keep = items["dilemma_idx"].drop_duplicates().iloc[:limit]
        items = items[items["dilemma_idx"].isin(keep)]
    return items.sort_values(["dilemma_idx", "action_type"], ascending=[True, False]).reset_index(drop=True)


def _complete(items: pd.DataFrame) -> pd.DataFrame:
    counts = items.groupby("dilemma_idx")["action_type"].nunique()
    whole = counts[counts == 2].index
    if len(whole) < len(counts):
        log.warning("dropped %d dilemma(s) without both a to_do and a not_to_do action", len(counts) - len(whole))
    if len(whole) == 0:
        raise DataError("eval data: no dilemma has both a to_do and a not_to_do action")
    return items[items["dilemma_idx"].isin(whole)]


def labels(items: pd.DataFrame, value: str) -> pd.Series:
    """Per dilemma: +1 if the to_do action carries `value` (a value or category tag), -1 if not_to_do does, else dropped."""
    value = value.strip().lower()
    has = items.assign(has=items["tags"].map(lambda t: value in t)).pivot(index="dilemma_idx", columns="action_type", values="has")
    lab = has["to_do"].astype(int) - has["not_to_do"].astype(int)
    return lab[lab != 0]


def all_values(items: pd.DataFrame) -> list[str]:
    return sorted({t for tags in items["tags"] for t in tags})
