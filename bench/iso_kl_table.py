"""Per-method strength calibration and metrics of a multirun folder as one markdown table.

    python bench/iso_kl_table.py outputs/multirun/<date>/<time>

max / target and min / target compare the larger and the smaller of KL(+k), KL(−k) with the budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

from steerlab.record import load_json
from steerlab.report.load import task_rows

HEAD = [
    "| method | task | k | KL(+k) | KL(−k) | max / target | min / target | evals | edge hit | Effect | ΔNLL | Gain (95% CI) | coverage |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def row(s: dict) -> str:
    t, hi, lo = s["kl_target"], max(s["kl_plus"], s["kl_minus"]), min(s["kl_plus"], s["kl_minus"])
    return (
        f"| {s['method']} | {s['task']} | {s['strength_scale']:.4g} | "
        f"{s['kl_plus']:.3f} | {s['kl_minus']:.3f} | {hi / t:.3f} | {lo / t:.3f} | "
        f"{s['strength_evals']} | {s['strength_bracket_hit']} | {s['effect']:.4f} | {s['delta_nll']:.3f} | "
        f"{s['gain']:.3g} ({s['gain_ci_low']:.3g} to {s['gain_ci_high']:.3g}) | {s['coverage']:.2f} |"
    )


def main(argv: list[str]) -> None:
    summaries = [load_json(p) for p in sorted(Path(argv[0]).glob("*/summary.json"))]
    print("\n".join(HEAD + [row(t) for s in summaries for t in task_rows(s)]))


if __name__ == "__main__":
    main(sys.argv[1:])
