"""Orchestration of one experiment: validate, load, fit, calibrate, evaluate, score, write, log."""
from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from steerlab import dilemmas, models
from steerlab.data import load_strings, load_suffixes, make_pairs
from steerlab.errors import ConfigError
from steerlab.layers import loss_layer, loss_layers, steer_layers
from steerlab.log import make_logger
from steerlab.methods import FitContext, Method, build, save
from steerlab.reuse import Index, identity, read_status, write_status

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What cheap validation established before any model work."""

    method: Method
    items: pd.DataFrame  # every eval item (evaluated once)
    val_items: pd.DataFrame  # held-out dilemmas for tuning: their Gain is what run() returns
    test_items: pd.DataFrame  # the reported dilemmas
    steer_layers: list[int]
    loss_layer: int
    loss_layers: list[int]
    coeffs: list[float]
    analysis: tuple = (None, None)  # (typed config, function) when analysis != none
    sample_prompts: list[str] = field(default_factory=list)  # steered text samples (eval.samples of them)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare(cfg: DictConfig) -> Plan:
    """Every check that needs no weights: coefficients, method config, eval data, layer range, suffix file."""
    coeffs = sorted({float(c) for c in cfg.eval.coeffs})
    if not {-1.0, 0.0, 1.0} <= set(coeffs):
        raise ConfigError(f"eval.coeffs={list(cfg.eval.coeffs)} must include -1, 0 and 1")
    method = build(cfg.adapter)
    method.check_coeffs(coeffs)
    items = dilemmas.load_items(cfg.eval)
    if not 0 <= cfg.eval.val_fraction < 1:
        raise ConfigError(f"eval.val_fraction={cfg.eval.val_fraction} must be in [0, 1)")
    val_items, test_items = dilemmas.split(items, cfg.eval.val_fraction)
    if dilemmas.labels(test_items, cfg.eval.target).empty:
        raise ConfigError(f"eval.target={cfg.eval.target!r}: no reported (non-validation) dilemma carries this value on exactly one side")
    load_suffixes(cfg.data.suffixes)
    from steerlab import strength

    strength.check(cfg.strength)
    samples = sample_prompts(cfg.eval)
    depth = models.depth(cfg.model)
    from steerlab.analysis import build as build_analysis

    plan = Plan(method, items, val_items, test_items, steer_layers(cfg.layers, depth), loss_layer(cfg.layers, depth), loss_layers(cfg.layers, depth),
                coeffs, build_analysis(cfg.get("analysis")), samples)
    method.check_layers(plan.steer_layers, plan.loss_layers)
    return plan


def sample_prompts(ecfg) -> list[str]:
    """The first `eval.samples` prompts of `eval.sample_prompts` (checked before any model work)."""
    if ecfg.samples < 0 or ecfg.sample_tokens < 1:
        raise ConfigError(f"eval.samples={ecfg.samples} must be >= 0 and eval.sample_tokens={ecfg.sample_tokens} >= 1")
    if ecfg.samples == 0:
        return []
    prompts = load_strings(ecfg.sample_prompts, "sample_prompts.json", "eval.sample_prompts")
    if len(prompts) < ecfg.samples:
        raise ConfigError(f"eval.samples={ecfg.samples} but eval.sample_prompts has only {len(prompts)} prompts")
    return prompts[: ecfg.samples]


def run_dir_of(cfg: DictConfig) -> Path:
    if cfg.out_dir:
        return Path(cfg.out_dir).expanduser().resolve()
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def run(cfg: DictConfig) -> float:
    """Run one experiment; returns the validation Gain (what a Hydra sweeper optimises; never the reported items)."""
    plan = prepare(cfg)
    folder = run_dir_of(cfg)
    ident = identity(cfg)
    previous = read_status(folder) or {}
    resuming = previous.get("status") == "running" and previous.get("identity") == ident  # e.g. a requeued SLURM job
    write_status(folder, "running", identity=ident, overrides=task_overrides())
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    seed_everything(cfg.seed)
    logger = make_logger(cfg, folder, resume=resuming)
    code = 1
    try:
        summary = execute(cfg, plan, folder, logger) if plan.analysis[1] is None else analyse(cfg, plan, folder, logger)
        code = 0
    finally:
        logger.finish(code)
    write_status(folder, "computed", identity=ident, overrides=task_overrides())
    Index(cfg.results_index).record(ident, folder)
    return summary.get("val_gain", float("nan"))


def analyse(cfg: DictConfig, plan: Plan, folder: Path, logger) -> dict:
    """`analysis=<name>`: the analysis instead of the steering evaluation, on the same model, pairs and layers."""
    acfg, fn = plan.analysis
    model, tok = models.load(cfg.model, cfg.seed)
    ctx = context(cfg, plan, model, tok, logger, folder)
    t0 = time.perf_counter()
    summary = {"analysis": acfg.name, **fn(acfg, ctx, folder, logger, cfg), "analysis_seconds": time.perf_counter() - t0,
               "steer_layers": plan.steer_layers, "loss_layer": plan.loss_layer, "n_train_pairs": len(ctx.train)}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    logger.summary({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
    log.info("analysis %s done in %.1f s; run folder: %s", acfg.name, summary["analysis_seconds"], folder)
    return summary


def context(cfg: DictConfig, plan: Plan, model, tok, logger, folder: Path | None = None) -> FitContext:
    """Everything a method (or an analysis) fits on: model, training/validation pairs, layers, training config."""
    train, val = make_pairs(tok, cfg.data, cfg.seed)
    return FitContext(
        model=model, tok=tok, steer_layers=plan.steer_layers, loss_layer=plan.loss_layer, modules=list(cfg.layers.modules),
        train=train, val=val, personas=list(cfg.data.personas), template=cfg.data.template, layers_path=cfg.model.layers_path,
        batch_size=cfg.model.batch_size, readout_tokens=cfg.data.readout_tokens, seed=cfg.seed, logger=logger,
        loss_layers=plan.loss_layers, train_cfg=cfg.train, loss_cfg=cfg.loss_space, folder=folder,
    )


def fit(cfg: DictConfig, plan: Plan, model, tok, logger, folder: Path | None = None) -> dict:
    from steerlab.calibrate import calibrate

    ctx = context(cfg, plan, model, tok, logger, folder)
    train, val = ctx.train, ctx.val
    t0 = time.perf_counter()
    plan.method.fit(ctx)
    info = calibrate(ctx, plan.method)
    log.info("fitted %s on %d train pairs (%d val) in %.1f s; calibration separation %+.3f, flipped=%s",
             plan.method.name, len(train), len(val), time.perf_counter() - t0, info["calibration_separation"], info["calibration_flipped"])
    trained = {f"train_{k}": v for k, v in plan.method.meta.get("train", {}).items()}
    return {**info, **trained, "n_train_pairs": len(train), "n_val_pairs": len(val), "fit_seconds": time.perf_counter() - t0}


def execute(cfg: DictConfig, plan: Plan, folder: Path, logger) -> dict:
    from steerlab.evaluate import evaluate  # scipy, matplotlib and friends load only once validation passed
    from steerlab.metrics import item_y, summarize, validation
    from steerlab.strength import calibrate_strength, strength_line

    model, tok = models.load(cfg.model, cfg.seed)
    fit_info = fit(cfg, plan, model, tok, logger, folder)
    fit_info.update(calibrate_strength(model, tok, plan.method, cfg.strength))
    log.info(strength_line(fit_info))
    save(plan.method, folder / "method")
    t0 = time.perf_counter()
    results = item_y(evaluate(model, tok, plan.method, plan.items, plan.coeffs, cfg.eval.batch_size), cfg.eval.pmass_min)
    eval_seconds = time.perf_counter() - t0
    results["split"] = np.where(results["dilemma_idx"].isin(plan.val_items["dilemma_idx"]), "val", "test")
    reported = results[results["split"] == "test"]
    summary, values = summarize(reported, plan.test_items, cfg.eval.target, cfg.metric, cfg.seed)
    summary.update(validation(results, plan.val_items, cfg.eval.target))
    summary.update(fit_info, eval_seconds=eval_seconds, method=plan.method.name, steer_layers=plan.steer_layers, loss_layer=plan.loss_layer)
    samples = steered_samples(cfg, plan, model, tok, summary)
    write_outputs(cfg, plan, folder, results, summary, values, logger, samples)
    return summary


def steered_samples(cfg: DictConfig, plan: Plan, model, tok, summary: dict):
    """Greedy continuations of the sample prompts at c = −1, 0, +1 (None when eval.samples = 0)."""
    if not plan.sample_prompts:
        return None
    from steerlab.generate import generate

    t0 = time.perf_counter()
    frame = generate(model, tok, plan.method, plan.sample_prompts, tokens=cfg.eval.sample_tokens, batch_size=cfg.eval.batch_size)
    summary["samples_seconds"] = time.perf_counter() - t0
    return frame


def write_outputs(cfg, plan: Plan, folder: Path, results, summary: dict, values, logger, samples=None) -> None:
    from steerlab.generate import samples_markdown
    from steerlab.metrics import value_scores
    from steerlab.report import dose_response, print_table, write_report
    from steerlab.strength import strength_line

    results.to_parquet(folder / "results.parquet")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    title = f"{plan.method.name} on {cfg.model.name} ({cfg.eval.source.value if hasattr(cfg.eval.source, 'value') else cfg.eval.source})"
    reported = results[results["split"] == "test"]
    wide = value_scores(reported, dilemmas.labels(plan.test_items, cfg.eval.target)).dropna()
    plot = dose_response(reported, wide, folder, title)
    notes = [
        strength_line(summary),
        f"steered layers {plan.steer_layers[0]}..{plan.steer_layers[-1]}, read-out layer {plan.loss_layer}",
        f"sign calibrated on training pairs: separation {summary['calibration_separation']:+.3f}, flipped={summary['calibration_flipped']}",
        f"coefficients {plan.coeffs}; pmass_min {cfg.eval.pmass_min}; bootstrap {cfg.metric.n_boot} resamples over items",
        f"reported on {plan.test_items['dilemma_idx'].nunique()} test dilemmas; {plan.val_items['dilemma_idx'].nunique()} validation dilemmas "
        f"(eval.val_fraction={cfg.eval.val_fraction}) give val_gain {summary.get('val_gain', float('nan')):.4g}, the value launch.py returns",
    ]
    extra = []
    if samples is not None:
        text = samples_markdown(samples)
        (folder / "samples.md").write_text(f"# Steered samples: {title}\n\n{strength_line(summary)}\n\n{text}\n")
        extra = [f"## Steered samples (greedy, {cfg.eval.sample_tokens} new tokens)", "", text, ""]
        logger.table("samples", samples)
    write_report(folder, summary, values, title, notes, extra)
    logger.summary({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
    logger.table("per_value", values)
    logger.image("dose_response", plot)
    print_table(summary, title)
    print(strength_line(summary))
    log.info("run folder: %s", folder)
