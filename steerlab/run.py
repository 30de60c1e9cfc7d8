"""Orchestration of one experiment: validate, load, fit, calibrate, evaluate, score, write, log."""

from __future__ import annotations

import functools
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from steerlab import memory, models, oom
from steerlab.context import FitContext, context_from_config
from steerlab.data import check_data, load_strings
from steerlab.errors import ConfigError, SteerlabError
from steerlab.layers import loss_layer, loss_layers, steer_layers
from steerlab.log import make_logger
from steerlab.methods.base import Method
from steerlab.methods.registry import build, trainable_names
from steerlab.methods.store import save
from steerlab.record import Claim, Index, Status, Summary, copy_result, read_status, read_summary, writable, write_status, write_summary
from steerlab.reuse import identity
from steerlab.tasks.base import Task
from steerlab.tasks.registry import build_all

log = logging.getLogger(__name__)


@dataclass
class TaskPlan:
    """One eval task with its items, split before any model work."""

    task: Task
    items: pd.DataFrame  # every item (evaluated once)
    val: pd.DataFrame  # held out for tuning: the first task's val Gain is what run() returns
    test: pd.DataFrame  # the reported items

    @property
    def name(self) -> str:
        return self.task.name


@dataclass
class Plan:
    """What cheap validation established before any model work."""

    method: Method
    tasks: list[TaskPlan]
    steer_layers: list[int]
    loss_layer: int
    loss_layers: list[int]
    coeffs: list[float]
    analysis: tuple = (None, None)  # (typed config, function) when analysis != none
    sample_prompts: list[str] = field(default_factory=list)  # steered text samples (eval.samples of them)
    ladder: list[float] = field(default_factory=list)  # rungs m > 0 walked at c = ±m (steerlab.ladder); [] = none


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare(cfg: DictConfig) -> Plan:
    """Every check that needs no weights: keys and ranges, coefficients, method config, eval data, layers, files."""
    from steerlab import ranges

    ranges.check_keys(cfg)
    ranges.check(cfg)
    models.check_batch_size(cfg.model)
    if cfg.model.dtype not in models.DTYPES:
        raise ConfigError(f"model.dtype={cfg.model.dtype!r}: choose one of {sorted(models.DTYPES)}")
    coeffs = sorted({float(c) for c in cfg.eval.coeffs})
    if not {-1.0, 0.0, 1.0} <= set(coeffs):
        raise ConfigError(f"eval.coeffs={list(cfg.eval.coeffs)} must include -1, 0 and 1")
    method = build(cfg.adapter)
    method.check_coeffs(coeffs)
    if cfg.adapter.name in trainable_names():
        from steerlab.train import check_optimizer

        check_optimizer(cfg.train)
    from steerlab import ladder

    rungs = ladder.check(cfg.eval.ladder, coeffs) if method.scalable else []
    task_plans = [plan_task(t) for t in build_all(cfg)]
    check_data(cfg.data)
    from steerlab import strength

    strength.check(cfg.strength)
    samples = sample_prompts(cfg.eval)
    depth = models.depth(cfg.model)
    from steerlab.analysis.registry import build as build_analysis

    plan = Plan(
        method,
        task_plans,
        steer_layers(cfg.layers, depth),
        loss_layer(cfg.layers, depth),
        loss_layers(cfg.layers, depth),
        coeffs,
        build_analysis(cfg.get("analysis")),
        samples,
        rungs,
    )
    method.check_layers(plan.steer_layers, plan.loss_layers)
    if cfg.adapter.name in trainable_names():
        method.check_shapes(linear_shapes(cfg, plan))
    return plan


def linear_shapes(cfg: DictConfig, plan: Plan) -> dict[str, tuple[int, ...]]:
    """{"layer.module": weight shape} of the Linear modules an adapter targets, from the model's skeleton (no weights);
    an unknown `layers.modules` name fails here, before the model loads."""
    from steerlab.layers import Placement

    placement = Placement(plan.steer_layers, list(cfg.layers.modules), plan.loss_layer, cfg.model.layers_path)
    return {name: tuple(mod.weight.shape) for name, (_, _, mod) in placement.linears(models.skeleton(cfg.model)).items()}


def plan_task(task: Task) -> TaskPlan:
    items = task.load()
    if len(items) == 0:
        raise ConfigError(f"evals.{task.name}: no {task.unit} to evaluate (its data is empty)")
    val, test = task.split(items)
    task.check(val, test)
    return TaskPlan(task, items, val, test)


def sample_prompts(ecfg) -> list[str]:
    """The first `eval.samples` prompts of `eval.sample_prompts` (checked before any model work)."""
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


def folder_plan(cfg: DictConfig, folder: Path, ident: str) -> str:
    """What to do with the run folder: 'new', 'resume' (an interrupted run of this config), 'recompute', or 'done'."""
    previous = read_status(folder) or {}
    status, same = previous.get("status"), previous.get("identity") == ident
    if status == Status.computed and not same:
        raise ConfigError(f"out_dir={folder} holds a finished run of another config; choose another out_dir (nothing was changed)")
    if status == Status.computed:
        return "done" if cfg.reuse else "recompute"
    return "resume" if status == Status.running and same else "new"


def run(cfg: DictConfig) -> float:
    """Run one experiment; returns the validation Gain (what a Hydra sweeper optimises; never the reported items)."""
    plan = prepare(cfg)
    folder = run_dir_of(cfg)
    writable(folder, "out_dir")
    writable(Path(cfg.results_index).expanduser(), "results_index")
    from steerlab.cache import check_cfg

    check_cfg(cfg)
    ident = identity(cfg)
    what = folder_plan(cfg, folder, ident)
    if what == "done":
        log.info("%s already holds this finished run (reuse=true): nothing recomputed", folder)
        return objective(plan, read_summary(folder))
    if cfg.train.resume:
        check_checkpoint(folder)
    if what == "recompute":
        log.warning("recomputing the finished run in %s (reuse=false)", folder)
    elif what == "resume":
        log.info("resuming the interrupted run in %s", folder)
    claim = Claim(cfg.results_index, ident, folder) if cfg.reuse else None
    source = claim.acquire() if claim else None
    if source is not None:  # a concurrent sweep computed this identity while we waited
        copy_result(source, folder)
        write_status(
            folder,
            Status.reused,
            identity=ident,
            overrides=task_overrides(),
            source=str(source),
            code=(read_status(source) or {}).get("code"),
        )
        log.info("reused %s, computed meanwhile by another job", source)
        return objective(plan, read_summary(folder))
    try:
        return compute(cfg, plan, folder, ident, what == "resume")
    finally:
        if claim:
            claim.release()


def compute(cfg: DictConfig, plan: Plan, folder: Path, ident: str, resuming: bool) -> float:
    """Fit, evaluate and record one run in `folder` (status running → computed, or failed with its error)."""
    write_status(folder, Status.running, identity=ident, overrides=task_overrides())
    (folder / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    seed_everything(cfg.seed)
    logger = make_logger(cfg, folder, resume=resuming, identity=ident)
    code = 1
    try:
        summary = execute(cfg, plan, folder, logger) if plan.analysis[1] is None else analyse(cfg, plan, folder, logger)
        code = 0
    except Exception as ex:  # not SystemExit: a preempted SLURM job exits to be requeued, and stays `running`
        from steerlab.messages import one_line

        write_status(
            folder,
            Status.failed,
            identity=ident,
            overrides=task_overrides(),
            error=one_line(ex) if isinstance(ex, SteerlabError) else repr(ex),
        )
        raise
    finally:
        logger.finish(code)
    write_status(folder, Status.computed, identity=ident, overrides=task_overrides())
    try:
        Index(cfg.results_index).record(ident, folder)
    except OSError as e:  # the result is safe in its folder; only later reuse is lost
        log.warning("run computed, but not recorded in results_index=%s (%s): later sweeps will not reuse it", cfg.results_index, e)
    return objective(plan, summary)


def objective(plan: Plan, summary: dict) -> float:
    """The first task's validation Gain (NaN for analyses)."""
    return summary.get(f"{plan.tasks[0].name}/val_gain", float("nan")) if plan.tasks and plan.analysis[1] is None else float("nan")


def check_checkpoint(folder: Path) -> None:
    """A checkpoint that cannot be read fails in one line naming it, before the model loads."""
    from steerlab.checkpoint import readable

    readable(folder / "checkpoint" / "state.pt")


def analyse(cfg: DictConfig, plan: Plan, folder: Path, logger) -> dict:
    """`analysis=<name>`: the analysis instead of the steering evaluation, on the same model, pairs and layers."""
    acfg, fn = plan.analysis
    model, tok = models.load(cfg.model, cfg.seed)
    ctx = context(cfg, plan, model, tok, logger, folder)
    t0 = time.perf_counter()
    summary = {
        "analysis": acfg.name,
        **fn(acfg, ctx, folder, logger, cfg),
        "analysis_seconds": time.perf_counter() - t0,
        "steer_layers": plan.steer_layers,
        "loss_layer": plan.loss_layer,
        "n_train_pairs": len(ctx.train),
    }
    write_summary(folder, summary)
    logger.summary({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
    log.info("analysis %s done in %.1f s; run folder: %s", acfg.name, summary["analysis_seconds"], folder)
    return summary


def context(cfg: DictConfig, plan: Plan, model, tok, logger, folder: Path | None = None) -> FitContext:
    """Everything a method (or an analysis) fits on: model, training/validation pairs, layers, training config."""
    ctx = context_from_config(cfg, model, tok, logger, folder)
    assert (ctx.steer_layers, ctx.loss_layer, ctx.loss_layers) == (plan.steer_layers, plan.loss_layer, plan.loss_layers), (
        "model depth changed"
    )
    return ctx


def execute(cfg: DictConfig, plan: Plan, folder: Path, logger) -> Summary:
    """Fit (or load the cached fit), calibrate the strength, evaluate every task, write the outputs (steerlab.cache
    keeps what was computed, so a later run computes only what is new)."""
    from steerlab import ladder
    from steerlab.cache import FitCache
    from steerlab.fitting import fit
    from steerlab.probe_store import kl_probe
    from steerlab.strength import calibrate_strength, strength_line

    model, tok = models.load(cfg.model, cfg.seed)
    cache = FitCache(cfg, folder)
    probe = functools.cache(lambda: kl_probe(cfg, model, tok))
    plan.method, fit_info = cache.fitted(plan.method, lambda: fit(plan.method, context(cfg, plan, model, tok, logger, folder)))
    fit_info.update(cache.calibrated(plan.method, lambda: calibrate_strength(model, tok, plan.method, cfg.strength, probe())))
    log.info(strength_line(fit_info))
    save(plan.method, folder / "method")
    walked, ladder_info = walk_ladder(cfg, plan, model, tok, cache, probe)
    coeffs = ladder.eval_coeffs(plan.coeffs, walked)
    summary = Summary(
        plan.method.name, [tp.name for tp in plan.tasks], plan.steer_layers, plan.loss_layer, coeffs, {**fit_info, **ladder_info}
    )
    outcomes = [evaluate_task(cfg, tp, model, tok, plan.method, coeffs, cache) for tp in plan.tasks]
    for tp, (_, task_summary, _) in zip(plan.tasks, outcomes):
        summary.update({f"{tp.name}/{k}": v for k, v in task_summary.items()})
    summary["eval_seconds"] = sum(s["eval_seconds"] for _, s, _ in outcomes)
    for tp, (_, task_summary, _) in zip(plan.tasks, outcomes):
        summary[f"{tp.name}/effect_at_max_dose"] = task_summary["effect_at_max_dose"] = effect_at(summary, tp.name)
    samples = steered_samples(cfg, plan, model, tok, summary)
    summary.update(memory.peak(), dtype=cfg.model.dtype, device=str(models.device_of(model)))
    from steerlab.report.outputs import write_outputs

    write_outputs(cfg, plan, folder, outcomes, summary, logger, samples, walked)
    return summary


def walk_ladder(cfg: DictConfig, plan: Plan, model, tok, cache, probe) -> tuple[pd.DataFrame, dict]:
    """The ladder walked to incoherence (steerlab.ladder), with its summary keys; empty when there is no ladder."""
    from steerlab import ladder

    if not plan.ladder:
        if cfg.eval.ladder and not plan.method.scalable:
            log.info("ladder: %s has no continuous dose; scored at c = %s only", plan.method.name, plan.coeffs)
        return pd.DataFrame(columns=["coeff", "kl", "nll", "distinct2", "coherent", "example"]), {"ladder_walked": []}
    t0 = time.perf_counter()
    rule, info = ladder.base_rule(probe(), model, tok, cfg.eval.coherence_nll, cfg.eval.coherence_distinct)
    log.info(
        "ladder: rungs ±%s; %s (base reply NLL %.3f, distinct-2 %.3f)",
        plan.ladder,
        rule.line(),
        info["coherence_base_nll"],
        info["coherence_base_distinct2"],
    )
    walked = ladder.walk(
        probe(), model, tok, plan.method, plan.ladder, rule, cfg.strength.stat, cfg.strength.tokens, cache.walk_rows(cfg.strength.tokens)
    )
    info = ladder.summary_keys(walked, info)
    info["ladder_seconds"] = time.perf_counter() - t0
    return walked, info


def effect_at(summary: dict, task: str) -> float:
    """The task's Effect at the largest coherent dose (NaN without a walk or coherent rung)."""
    from steerlab.ladder import effect_curve

    curve = effect_curve(summary, task)
    hit = curve[curve["m"] == summary.get("max_dose", float("nan"))]
    return float(hit["effect"].iloc[0]) if len(hit) else float("nan")


def evaluate_task(
    cfg: DictConfig, tp: TaskPlan, model, tok, method, coeffs: list[float], cache=None
) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Score one task at every coefficient; (rows with their split, the task's summary, its extra table).

    With a `steerlab.cache.FitCache`, coefficients already scored for this fit, strength and task are read back and only
    the others are computed (`<task>/reused_coeffs`; `eval_seconds` is the time this run spent)."""
    from steerlab.metrics import summarize, validation

    t0 = time.perf_counter()

    def score(cs: list[float]) -> pd.DataFrame:
        return oom.run(model, f"eval {tp.name}", cfg.eval.batch_size, lambda size: tp.task.evaluate(model, tok, method, tp.items, cs, size))

    results, reused = cache.rows(tp.task, tp.items, coeffs, score) if cache is not None else (score(coeffs), [])
    seconds = time.perf_counter() - t0
    results["split"] = np.where(results["group"].isin(tp.val["group"]), "val", "test")
    test, val = results[results["split"] == "test"], results[results["split"] == "val"]
    summary = summarize(tp.task.scores(test, tp.test), test, cfg.metric, cfg.seed)
    extra, table = tp.task.extras(test, tp.test, cfg.metric)
    summary.update(extra)
    summary.update(validation(tp.task.scores(val, tp.val), val))
    summary.update(eval_seconds=seconds, reused_coeffs=reused, n_test=int(tp.test["group"].nunique()), n_val=int(tp.val["group"].nunique()))
    if summary["n_items"] == 0:
        log.warning("%s: NO ITEM SCORED (coverage 0): %s; every metric is NaN", tp.name, tp.task.unscored_hint())
    return results, summary, table


def steered_samples(cfg: DictConfig, plan: Plan, model, tok, summary: dict):
    """Greedy continuations of the sample prompts at c = −1, 0, +1 (None when eval.samples = 0)."""
    if not plan.sample_prompts:
        return None
    from steerlab.generate import generate

    t0 = time.perf_counter()
    frame = generate(model, tok, plan.method, plan.sample_prompts, tokens=cfg.eval.sample_tokens, batch_size=cfg.eval.batch_size)
    summary["samples_seconds"] = time.perf_counter() - t0
    return frame
