"""Python API for notebooks: the same steps as `launch.py`, without Hydra.

model, tok = load_model("smollm2_135m")
method = fit("pca", model, tok)                          # fitted and sign-calibrated
calibrate_strength(model, tok, method)                   # iso-KL: c = ±1 now costs 0.25 nats/token (the default)
with steer(model, method, 1.0) as prompt:                # hooks on; prompt(text) is the text as the method shows it
    ...
generate(model, tok, method, ["Describe yourself."])     # greedy text at c = -1, 0, +1
summary, rows = evaluate(model, tok, method, "truthfulqa", limit=100)   # a task of conf/evals/, as launch.py scores it
save(method, "outputs/my_pca"); method = load("outputs/my_pca")
export_control_vector(method, "honesty.gguf")           # a llama.cpp control vector (--control-vector-scaled FILE c)
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from steerlab import models
from steerlab.config import REPO_ROOT, StrengthConfig
from steerlab.config_store import register_configs
from steerlab.context import FitContext, context_from_config, make_context
from steerlab.errors import ConfigError
from steerlab.fitting import fit as fit_method
from steerlab.methods.base import Method
from steerlab.methods.registry import METHODS, build
from steerlab.methods.store import load, save
from steerlab.methods.vector import SteeringVector
from steerlab.models import model_config
from steerlab.steering import merge, steer

REGISTRY = METHODS  # name -> (config dataclass, method class)
__all__ = [
    "load_model",
    "model_config",
    "context_for",
    "make_context",
    "fit",
    "calibrate_strength",
    "generate",
    "evaluate",
    "steer",
    "merge",
    "save",
    "load",
    "REGISTRY",
    "export_control_vector",
    "import_control_vector",
]


def load_model(model, seed: int = 0):
    """(model, tokenizer) from a conf/model name or config."""
    return models.load(model_config(model), seed)


def context_for(cfg: DictConfig, model, tok) -> FitContext:
    """FitContext from a composed config (data, layers, model, train, loss_space, seed)."""
    return context_from_config(cfg, model, tok)


def fit(method, model, tok, data=None, layers=None, seed: int = 0, train=None, loss=None, folder=None, **method_cfg) -> Method:
    """Fit and sign-calibrate a method by name (or config) on contrastive pairs; returns the method.

    Trained adapters take `train` (TrainConfig keys, e.g. {"steps": 20}) and `loss` (LossSpaceConfig keys).
    """
    cfg = {"name": method, **method_cfg} if isinstance(method, str) else method
    m = build(cfg)
    fit_method(m, make_context(model, tok, data, layers, seed=seed, train=train, loss=loss, folder=folder))
    return m


def calibrate_strength(model, tok, method: Method, target: float | None = None, probe=None, **strength) -> dict:
    """Set `method.scale` so that max(KL(+1), KL(−1)) is `target` nats/token (iso-KL, as `launch.py` does).

    `target` None = the default of `conf/strength/iso_kl.yaml` (StrengthConfig.target).

    Other StrengthConfig keys (`stat`, `tokens`, `prompts`, `k_min`, `k_max`, `mode`, …) pass through; `probe`
    reuses a `steerlab.strength.KLProbe` (base continuations and log-probs) across methods. Returns the
    summary keys (`strength_scale`, `kl_plus`, `kl_minus`, `strength_evals`, `strength_bracket_hit`, …).
    """
    from steerlab import strength as iso

    cfg = OmegaConf.merge(OmegaConf.structured(StrengthConfig), {**({} if target is None else {"target": target}), **strength})
    iso.check(cfg)
    return iso.calibrate_strength(model, tok, method, cfg, probe)


def generate(model, tok, method: Method, prompts: list[str], coeffs=(-1.0, 0.0, 1.0), tokens: int = 48):
    """Greedy replies to `prompts` (user turns) at each coefficient: a DataFrame with prompt, coeff, text."""
    from steerlab.generate import generate as run

    return run(model, tok, method, list(prompts), coeffs, tokens)


def task_config(name: str, **overrides) -> DictConfig:
    """A task config from a name in conf/evals/ (e.g. 'builtin', 'truthfulqa') with `overrides` merged in."""
    path = REPO_ROOT / "conf" / "evals" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"task {name!r}: no conf/evals/{name}.yaml (available: {sorted(p.stem for p in path.parent.glob('*.yaml'))})")
    register_configs()  # the ${repo:} resolver
    raw = OmegaConf.load(path)
    raw.pop("defaults", None)
    return OmegaConf.merge(raw, overrides)


def evaluate(
    model,
    tok,
    method: Method,
    task: str = "truthfulqa",
    coeffs=(-1.0, 0.0, 1.0),
    limit: int | None = None,
    val_fraction: float = 0.25,
    batch_size: int = 16,
    seed: int = 0,
    **task_cfg,
):
    """Score `method` on one task as `launch.py` does: (summary of the reported items, per-item rows with their split).

    summary, rows = evaluate(model, tok, method, "truthfulqa", limit=100)
    summary["MC1(+1)"], summary["gain"], summary["val_gain"]
    """
    from steerlab.config import EvalConfig, MetricConfig
    from steerlab.run import TaskPlan, evaluate_task, plan_task
    from steerlab.tasks.registry import build as build_task

    eval_cfg = OmegaConf.structured(EvalConfig(coeffs=list(coeffs), limit=limit, val_fraction=val_fraction, batch_size=batch_size))
    plan: TaskPlan = plan_task(build_task(task, task_config(task, **task_cfg), eval_cfg))
    cfg = OmegaConf.create({"eval": eval_cfg, "metric": OmegaConf.structured(MetricConfig), "seed": seed})
    rows, summary, _table = evaluate_task(cfg, plan, model, tok, method, sorted({float(c) for c in coeffs}))
    return summary, rows


def export_control_vector(method: Method, path, coeff: float = 1.0, model_hint: str = ""):
    """Write what a vector method adds at `coeff` (calibrated sign and strength) as a llama.cpp control-vector GGUF."""
    from steerlab.export import export_control_vector as export

    return export(method, path, coeff, model_hint)


def import_control_vector(path) -> SteeringVector:
    """A llama.cpp / repeng / steerlab control-vector GGUF file as a SteeringVector ({layer: vector}, llama.cpp numbering)."""
    from steerlab.control_vector import read

    return SteeringVector(read(path)[0])
