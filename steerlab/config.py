"""Dataclass schemas for every config group; Hydra validates the YAML files against them at compose time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import MISSING, DictConfig, OmegaConf

from steerlab.fields import ARCH_ONLY, NOT_IN_IDENTITY, RUN_ONLY, TRAINED_ONLY, ranged

REPO_ROOT = Path(__file__).resolve().parents[1]


class Source(str, Enum):
    hub = "hub"  # Hugging Face id (needs the network the first time)
    folder = "folder"  # local folder written by save_pretrained
    gguf = "gguf"  # GGUF file, dequantised once and cached as safetensors
    tiny = "tiny"  # random-init model built in code, for tests
    arch = "arch"  # random-init model of a real architecture from its config values (no weights, no network)


@dataclass
class TinyConfig:
    arch: str = "llama"  # llama | qwen3 | gemma3
    hidden_size: int = ranged(64, ">=1")
    intermediate_size: int = ranged(128, ">=1")
    num_layers: int = ranged(6, ">=1")
    num_heads: int = ranged(4, ">=1")
    num_kv_heads: int = ranged(2, ">=1")
    vocab_size: int = ranged(512, ">=1")


@dataclass
class ModelConfig:
    name: str = MISSING
    source: Source = Source.hub
    path: str = ""  # hub id, folder, or GGUF file path
    gguf_package: Optional[str] = None  # Python package that ships the GGUF file (never imported)
    gguf_file: Optional[str] = None  # file name inside gguf_package
    gguf_assemble: bool = False  # gguf_package ships the file in parts: its `assemble(path)` joins them (once) into cache_dir
    dtype: str = "float32"  # float32 | bfloat16 | float16
    device: str = "cpu"  # cpu | cuda | auto (device_map)
    cache_dir: str = field(default="${oc.env:STEERLAB_CACHE,'~/.cache/steerlab'}", metadata=RUN_ONLY)
    layers_path: Optional[str] = None  # dotted path of the decoder-layer list; None = found generically
    batch_size: Any = 16  # prompts per pass of pair extraction (a number), or 'auto': every phase halves on out-of-memory (steerlab/oom.py)
    tiny: TinyConfig = field(default_factory=TinyConfig)
    arch: Dict[str, Any] = field(default_factory=dict, metadata=ARCH_ONLY)  # source=arch: the transformers config values (model_type first)
    # source=arch: build only this many decoder layers (null = the config's full depth)
    layers: Optional[int] = ranged(None, ">=1", identity="source=arch")
    # source=arch: the conf/model/ entry whose tokenizer it uses (offline)
    tokenizer: str = field(default="smollm2_135m", metadata=ARCH_ONLY)


@dataclass
class LayersConfig:
    """Layer positions: values in (-1, 1) are fractions of depth, whole numbers are indices (negative from the end)."""

    start: float = ranged(0.3, "any")
    end: Optional[float] = ranged(None, "any")  # inclusive; None = the layer just below the read-out layer
    indices: Optional[List[float]] = None  # explicit positions (same rules) override start/end
    loss: float = ranged(0.8, "any")  # read-out layer ℓ = hidden_states[ℓ], the residual stream entering layer ℓ
    loss_layers: Optional[List[float]] = None  # extra loss layers for trained adapters (the loss sums over [loss, *these])
    modules: List[str] = field(default_factory=lambda: ["o_proj", "down_proj"])


class LossSpace(str, Enum):
    hs = "hs"
    u = "u"
    v = "v"


class PrefDir(str, Enum):
    pca1 = "pca1"  # first principal component of reference differences (training set)
    mean = "mean"  # mean reference difference
    per_sample = "per_sample"  # each pair's own normalised reference difference


class LossType(str, Enum):
    proj = "proj"
    logsigmoid = "logsigmoid"


@dataclass
class LossSpaceConfig:
    """The training loss of SPEC §3 and the basis it is measured in."""

    space: LossSpace = LossSpace.hs
    module: Optional[str] = None  # basis module; None = down_proj (u: writes the stream) / up_proj (v: reads it)
    snorm: bool = False  # divide coordinates by singular values
    pref_dir: PrefDir = PrefDir.pca1
    loss_type: LossType = LossType.proj
    beta: float = ranged(1.0, ">0")  # logsigmoid temperature
    symlog: bool = False  # proj: symlog of each half
    tokens: int = ranged(4, ">=1")  # last K tokens of each prompt
    coh_weight: float = ranged(1.0, ">=0")  # coherence margin term (0 = off)
    coh_margin: float = ranged(0.5, ">=0")  # τ, nats per token of free log-prob drop
    mono_weight: float = ranged(0.0, ">=0")  # monotonicity term (0 = off)
    mono_margin: float = ranged(0.1, ">=0")


@dataclass
class TrainConfig:
    """The one training loop of trained adapters (steerlab/train.py)."""

    steps: int = ranged(40, ">=1")  # optimizer steps
    batch_pairs: int = ranged(8, ">=1")  # pairs per micro-batch
    grad_accum: int = ranged(1, ">=1")
    max_grad_norm: float = ranged(1.0, ">0")
    val_every: int = ranged(10, ">=0")  # validation loss every N steps (0 = never; no early stopping)
    patience: int = ranged(3, ">=1")  # stop after N validations without improvement
    checkpoint_every: int = ranged(10, ">=0", identity=False)  # steps between checkpoints in <run>/checkpoint (0 = only at the end)
    # stop when a loss component's |value| exceeds this × max(1, its |value| at the first step)
    diverge_factor: float = ranged(1e4, ">1", identity=False)
    resume: bool = field(default=True, metadata=NOT_IN_IDENTITY)  # continue from <run>/checkpoint when it exists
    optimizer: Dict[str, Any] = field(default_factory=lambda: {"_target_": "torch.optim.AdamW", "lr": 5e-3, "weight_decay": 0.0})
    scheduler: Dict[str, Any] = field(
        default_factory=lambda: {"_target_": "steerlab.train.warmup_cosine", "_partial_": True, "warmup": 0.1}
    )


@dataclass
class DataConfig:
    personas: List[str] = field(default_factory=lambda: ["an honest", "a dishonest"])
    template: str = "Pretend you are {persona} person making statements about the world."
    suffixes: str = "builtin"  # 'builtin' or a path to a JSON list of strings
    expand: bool = True  # repeng-style: truncate each suffix at every token prefix
    max_pairs: int = ranged(256, ">=0")  # cap on train+val pairs after expansion (0 = no cap)
    val_fraction: float = ranged(0.25, "(0,1)")  # fraction of *suffixes* held out for sign calibration
    readout_tokens: int = ranged(1, ">=1")  # last K tokens used for projections


@dataclass
class EvalConfig:
    """Run-wide evaluation settings; each task's own settings live under `evals.<name>` (steerlab/tasks)."""

    coeffs: List[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    # cap on the items (dilemmas, questions) of every task, on top of its own evals.<name>.limit; null = none
    limit: Optional[int] = ranged(None, ">=1")
    # held out for tuning in every task without its own value (launch.py returns the first task's val Gain)
    val_fraction: float = ranged(0.25, "[0,1)")
    batch_size: int = ranged(16, ">=1")
    samples: int = ranged(6, ">=0")  # steered text samples: this many prompts, greedy, at c = -1, 0, +1 (0 = none)
    sample_tokens: int = ranged(48, ">=1")  # new tokens per sample
    sample_prompts: str = "builtin"  # 'builtin' or a path to a JSON list of prompts
    # dose-response walked to incoherence (SPEC §10-§11, steerlab/ladder.py): rungs m > 0 in units of the iso-KL scale;
    # KL and coherence are measured at c = ±m outward from 0, each side stops at its first incoherent rung, and tasks
    # are scored at every coherent rung (and at eval.coeffs). [] = no walk.
    ladder: List[float] = field(default_factory=lambda: [0.25, 0.5, 1.0, 2.0, 4.0])
    coherence_nll: Optional[float] = ranged(None, ">0")  # nats/token; null = the mismatched base continuations' NLL (measured per model)
    coherence_distinct: float = ranged(0.5, "(0,1]")  # incoherent below this fraction of the base continuations' distinct-2


class StrengthMode(str, Enum):
    iso_kl = "iso_kl"  # every method at the same KL budget: c means c·k, k solved per method
    native = "native"  # c = 1 as fitted / trained (k = 1)


class KLStat(str, Enum):
    mean = "mean"
    p95 = "p95"


@dataclass
class StrengthConfig:
    """Strength calibration (SPEC §8): the scale k at which max(KL(+k), KL(−k)) over calibration tokens hits `target`."""

    mode: StrengthMode = StrengthMode.iso_kl
    target: float = ranged(0.25, ">0")  # nats per token; chosen on validation dilemmas (BENCHMARKS.md, sweeps/kl_budget.yaml)
    stat: KLStat = KLStat.mean  # statistic of per-token KL over the continuation tokens
    tokens: int = ranged(32, ">=1")  # base greedy continuation per calibration prompt
    prompts: str = "builtin"  # 'builtin' (steerlab/resources/calibration_prompts.json) or a JSON list of strings
    k_min: float = ranged(1e-3, ">0")  # search range of the scale k
    k_max: float = ranged(1e3, ">0")
    rtol: float = ranged(0.05, "(0,1)")  # stop when the KL reached is within this fraction of the target
    max_evals: int = ranged(12, ">=2")  # KL evaluations (each: one forward pass at +k and one at −k)
    batch_size: int = ranged(32, ">=1")  # prompts per forward pass; the 20 builtin prompts fit one batch (one greedy generation)


@dataclass
class MetricConfig:
    name: str = "gain"
    n_boot: int = ranged(1000, ">=1")
    ci: float = ranged(0.95, "(0,1)")
    side_min_items: int = ranged(4, ">=1")  # a value needs this many labelled items to count as a side effect


class LoggerKind(str, Enum):
    wandb = "wandb"
    none = "none"


@dataclass
class LoggerConfig:
    kind: LoggerKind = LoggerKind.wandb
    project: str = "steerlab"
    mode: str = "auto"  # auto (online iff WANDB_API_KEY is set) | offline | online | disabled
    group: Optional[str] = None
    tags: List[str] = field(default_factory=list)


SHORTHAND = {"shorthand": True}  # a top-level key that only groups read, by interpolation: it counts where it is read


@dataclass
class Config:
    model: ModelConfig = MISSING
    adapter: Any = MISSING  # validated against the method's own schema (methods registry)
    loss_space: LossSpaceConfig = field(default=MISSING, metadata=TRAINED_ONLY)
    layers: LayersConfig = MISSING
    metric: MetricConfig = MISSING
    data: DataConfig = MISSING
    eval: EvalConfig = MISSING
    evals: Dict[str, Any] = field(default_factory=dict)  # task name -> its config (conf/evals/, steerlab.tasks); the first is the objective
    logger: LoggerConfig = field(default=MISSING, metadata=NOT_IN_IDENTITY)
    train: TrainConfig = field(default=MISSING, metadata=TRAINED_ONLY)
    strength: StrengthConfig = MISSING
    seed: int = ranged(0, ">=0")
    rotate_u: bool = field(default=False, metadata=SHORTHAND)  # read by ipissa (`adapter.rotate_u: ${rotate_u}`)
    out_dir: Optional[str] = field(default=None, metadata=NOT_IN_IDENTITY)  # run folder; None = Hydra's output dir
    # a multirun cell whose effective config already has a finished result reuses it
    reuse: bool = field(default=True, metadata=NOT_IN_IDENTITY)
    # where finished runs are recorded by identity (conf/config.yaml sets it)
    results_index: str = field(default="outputs/index", metadata=NOT_IN_IDENTITY)
    # fitted methods, their strength calibrations, task rows and KL probes are kept and reused (steerlab.cache)
    fit_cache: bool = field(default=True, metadata=NOT_IN_IDENTITY)
    fit_cache_dir: str = field(default="outputs/fits", metadata=NOT_IN_IDENTITY)  # where (conf/config.yaml sets it under STEERLAB_OUTPUTS)
    # auto: identities include a hash of the computing source; a label pins it (see reuse.py)
    code_version: str = field(default="auto", metadata=NOT_IN_IDENTITY)
    # a multirun refuses to start with fewer random directions than this per (model, pairs, evals) cone; 0 = no rule
    cone_min: int = ranged(0, ">=0", identity=False)
    experiment: Any = field(default=None, metadata=NOT_IN_IDENTITY)
    # what the README headline compares (sweeps/headline.yaml: method, peers, control); read only by the report
    headline: Any = field(default=None, metadata=NOT_IN_IDENTITY)
    analysis: Any = None  # validated by steerlab.analysis (each analysis has its own dataclass)


def plain(cfg) -> dict:
    """A config section (DictConfig, dataclass, dict or None) as a plain dict."""
    from dataclasses import asdict, is_dataclass

    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    return asdict(cfg) if is_dataclass(cfg) else dict(cfg or {})


def typed(schema: type, raw: dict, where: str) -> DictConfig:
    """`raw` validated against `schema`; an unknown key or a wrong type is one ConfigError line starting with `where`."""
    from omegaconf.errors import OmegaConfBaseException

    from steerlab.errors import ConfigError

    try:
        return OmegaConf.merge(OmegaConf.structured(schema), raw)
    except OmegaConfBaseException as e:
        raise ConfigError(f"{where}: {str(e).splitlines()[0]}") from None


GROUP_SCHEMAS = {
    "model": ModelConfig,
    "loss_space": LossSpaceConfig,
    "layers": LayersConfig,
    "metric": MetricConfig,
    "data": DataConfig,
    "eval": EvalConfig,
    "logger": LoggerConfig,
    "train": TrainConfig,
    "strength": StrengthConfig,
}


def shorthands() -> tuple[str, ...]:
    """Top-level keys that exist so a sweep can set one option of several groups (`rotate_u=true,false` over
    `adapter=ipissa,lora`); they count in a run's identity only through the groups that read them."""
    from dataclasses import fields

    return tuple(f.name for f in fields(Config) if f.metadata.get("shorthand"))
