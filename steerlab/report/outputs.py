"""What one steering run leaves behind (steerlab.run calls it once the tasks are scored): summary.json, per-item results,
the ladder, plots, report.md, samples.md, W&B tables and images, and the tables printed on the console."""

from __future__ import annotations

import logging
from pathlib import Path

from steerlab import memory
from steerlab.record import write_summary
from steerlab.report import dose_response, effect_vs_kl, ladder_table, print_ladder, print_table, task_section, write_report

log = logging.getLogger(__name__)


def write_outputs(cfg, plan, folder: Path, outcomes, summary: dict, logger, samples=None, walked=None) -> None:
    """Everything one steering run writes: summary.json, results and ladder parquet, plots, report.md, samples.md, the
    W&B tables and images, and the console tables."""
    from steerlab.generate import samples_markdown
    from steerlab.ladder import coherent_line, effect_curve
    from steerlab.strength import strength_line

    write_summary(folder, summary)
    title = f"{plan.method.name} on {cfg.model.name}"
    sections: list[str] = []
    for i, (tp, (results, task_summary, table)) in enumerate(zip(plan.tasks, outcomes)):
        results.to_parquet(folder / f"results_{tp.name}.parquet")
        reported = results[results["split"] == "test"]
        plot = dose_response(
            reported,
            tp.task.scores(reported, tp.test).dropna(),
            folder / f"dose_response_{tp.name}.png",
            f"{title}: {tp.name}",
            tp.task.y_label,
        )
        sections += task_section(tp.task, task_summary, table, plot.name, objective=i == 0) + tp.task.more(task_summary)
        curve = effect_curve(summary, tp.name)
        if len(curve):
            kl_plot = effect_vs_kl(curve, folder / f"effect_vs_kl_{tp.name}.png", f"{title}: {tp.name}", tp.task.y_label)
            sections += [
                f"Effect at the largest coherent dose: {task_summary['effect_at_max_dose']:.4g}",
                "",
                f"![Effect vs KL]({kl_plot.name})",
                "",
            ]
            logger.image(f"{tp.name}/effect_vs_kl", kl_plot)
        logger.table(f"{tp.name}/table", table)
        logger.image(f"{tp.name}/dose_response", plot)
        print_table(task_summary, f"{title}: {tp.name}", (*tp.task.headline, "effect_at_max_dose"))
    notes = [
        strength_line(summary),
        f"steered layers {plan.steer_layers[0]}..{plan.steer_layers[-1]}, read-out layer {plan.loss_layer}",
        f"sign calibrated on training pairs: separation {summary['calibration_separation']:+.3f}, flipped={summary['calibration_flipped']}",
        f"coefficients {plan.coeffs}; bootstrap {cfg.metric.n_boot} resamples over items",
        f"{cfg.model.name} in {summary['dtype']} on {summary['device']}; {memory.line(summary)}",
    ]
    extra = []
    if walked is not None and len(walked):
        walked.to_parquet(folder / "ladder.parquet")
        print_ladder(walked, f"{title}: KL ladder")
        notes.append(coherent_line(summary))
        extra += [
            "## The ladder (KL and coherence per rung, on the calibration prompts)",
            "",
            coherent_line(summary),
            "",
            ladder_table(walked),
            "",
        ]
        logger.table("ladder", walked)
    if samples is not None:
        text = samples_markdown(samples)
        (folder / "samples.md").write_text(f"# Steered samples: {title}\n\n{strength_line(summary)}\n\n{text}\n")
        extra += [f"## Steered samples (greedy, {cfg.eval.sample_tokens} new tokens)", "", text, ""]
        logger.table("samples", samples)
    write_report(folder, title, notes, sections, extra)
    logger.summary({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
    print(strength_line(summary))
    print(coherent_line(summary))
    print(memory.line(summary))
    log.info("run folder: %s", folder)
