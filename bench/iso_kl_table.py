"""Per-method strength calibration and metrics of a multirun folder as one markdown table:

    python bench/iso_kl_table.py outputs/multirun/<date>/<time>
"""
import json, sys
from pathlib import Path
rows = ["| method | k | KL(+k) | KL(−k) | max / target | min / target | evals | edge hit | Effect | ΔNLL | Gain (95% CI) | coverage |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
for p in sorted(Path(sys.argv[1]).glob("*/summary.json")):
    s = json.loads(p.read_text()); t = s["kl_target"]
    hi, lo = max(s["kl_plus"], s["kl_minus"]), min(s["kl_plus"], s["kl_minus"])
    rows.append(f"| {s['method']} | {s['strength_scale']:.4g} | {s['kl_plus']:.3f} | {s['kl_minus']:.3f} | {hi/t:.3f} | {lo/t:.3f} | {s['strength_evals']} | "
                f"{s['strength_bracket_hit']} | {s['effect']:.4f} | {s['delta_nll']:.3f} | {s['gain']:.3g} ({s['gain_ci_low']:.3g} to {s['gain_ci_high']:.3g}) | {s['coverage']:.2f} |")
print("\n".join(rows))
