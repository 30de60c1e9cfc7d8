"""The one training loop of every trained adapter (SPEC §3): cached reference, coeff = ±1 per step, checkpoints, early stop."""

from __future__ import annotations

import logging
import math
import time

import torch
from hydra.utils import instantiate
from transformers import get_cosine_schedule_with_warmup

from steerlab import oom
from steerlab.checkpoint import Checkpoint
from steerlab.context import FitContext
from steerlab.errors import ConfigError, TrainingError
from steerlab.hooks import capture_outputs
from steerlab.layers import readout
from steerlab.loss import ContrastiveLoss, Reference, basis
from steerlab.models import device_of
from steerlab.preempt import Deferred
from steerlab.progress import progress

log = logging.getLogger(__name__)


def warmup_cosine(optimizer, total_steps: int, warmup: float = 0.1):
    """Linear warm-up over a fraction of the steps, then cosine decay (transformers' schedule)."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, float)) or not 0 <= warmup < 1:
        raise ConfigError(f"train.scheduler.warmup={warmup!r} must be a fraction of the steps in [0, 1)")
    return get_cosine_schedule_with_warmup(optimizer, math.ceil(warmup * total_steps), total_steps)


def check_optimizer(cfg) -> None:
    """Build `train.optimizer` and `train.scheduler` on one dummy parameter, so that their own argument checks (a negative
    learning rate, betas outside [0, 1), an unknown class or keyword) fail in one line before any model work."""
    opt = built("train.optimizer", cfg.optimizer, lambda: instantiate(cfg.optimizer, params=[torch.nn.Parameter(torch.zeros(1))]))
    built("train.scheduler", cfg.scheduler, lambda: instantiate(cfg.scheduler)(opt, total_steps=cfg.steps))


def built(key: str, node, make):
    """`make()`, with an error in the arguments said as one line naming `key` and its target."""
    try:
        return make()
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - Hydra wraps the target's own error (ValueError, TypeError, ImportError)
        cause = e.__cause__ or e
        if isinstance(cause, ConfigError):
            raise cause from None
        target = node.get("_target_") if hasattr(node, "get") else None
        raise ConfigError(f"{key} ({target}): {type(cause).__name__}: {' '.join(str(cause).split())}") from None


class PairData:
    """Pairs tokenized once; `batch(idx)` pads positive then negative prompts (left padding) into one batch."""

    def __init__(self, tok, pairs):
        self.tok = tok
        self.pos = tok([p.pos for p in pairs], add_special_tokens=False)["input_ids"]
        self.neg = tok([p.neg for p in pairs], add_special_tokens=False)["input_ids"]

    def __len__(self):
        return len(self.pos)

    def batch(self, idx: torch.Tensor, device) -> dict:
        rows = [{"input_ids": self.pos[i]} for i in idx.tolist()] + [{"input_ids": self.neg[i]} for i in idx.tolist()]
        return {k: v.to(device) for k, v in self.tok.pad(rows, return_tensors="pt", padding=True).items()}


def forward(model, batch: dict, readouts: dict, k: int) -> tuple[dict, dict, torch.Tensor, torch.Tensor]:
    """Hidden states at the loss layers [B, K, d] (pos, neg) and log-probs of the last K tokens [B, K] (pos, neg)."""
    with capture_outputs(readouts) as store:
        logits = model(**batch, logits_to_keep=k + 1).logits[:, :-1]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, batch["input_ids"][:, -k:, None])[..., 0]
    half = lp.shape[0] // 2
    h = {l: store[l][:, -k:] for l in readouts}
    return {l: t[:half] for l, t in h.items()}, {l: t[half:] for l, t in h.items()}, lp[:half], lp[half:]


@torch.no_grad()
def reference(model, data: PairData, readouts: dict, k: int, batch_pairs: int) -> Reference:
    """coeff = 0 hidden states and log-probs for every pair, once (the adapter is off at coeff = 0)."""
    parts = []
    for start in progress(range(0, len(data), batch_pairs), desc="reference"):
        idx = torch.arange(start, min(start + batch_pairs, len(data)))
        hp, hn, lpp, lpn = forward(model, data.batch(idx, device_of(model)), readouts, k)
        parts.append(({l: t.float().cpu() for l, t in hp.items()}, {l: t.float().cpu() for l, t in hn.items()}, lpp.cpu(), lpn.cpu()))
    cat = lambda i: {l: torch.cat([p[i][l] for p in parts]) for l in readouts}
    return Reference(cat(0), cat(1), torch.cat([p[2] for p in parts]), torch.cat([p[3] for p in parts]))


def batch_indices(n: int, size: int, micro: int, seed: int) -> torch.Tensor:
    """Pair indices of micro-batch number `micro`: a fixed function of (seed, micro), so resumed runs see the same data."""
    per_epoch = max(1, n // size)
    epoch, pos = divmod(micro, per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[pos * size : pos * size + size] if n >= size else order


class Trainer:
    def __init__(self, ctx: FitContext, method):
        self.ctx, self.method, self.model = ctx, method, ctx.model
        self.first_loss: dict[str, float] | None = None  # |loss components| at this process's first step (divergence guard)
        self.cfg, self.lcfg = ctx.train_cfg, ctx.loss_cfg
        self.k = self.lcfg.tokens
        layers = ctx.placement.decoder(self.model)
        self.readouts = {l: readout(layers, l) for l in ctx.loss_layers}
        self.data, self.val = PairData(ctx.tok, ctx.train), PairData(ctx.tok, ctx.val)
        t0 = time.perf_counter()
        ref = oom.run(
            self.model, "reference", self.cfg.batch_pairs, lambda size: reference(self.model, self.data, self.readouts, self.k, size)
        )
        self.loss = ContrastiveLoss(self.lcfg, ref, {l: basis(layers, l, self.lcfg) for l in self.readouts})
        val_ref = (
            oom.run(
                self.model, "reference", self.cfg.batch_pairs, lambda size: reference(self.model, self.val, self.readouts, self.k, size)
            )
            if len(self.val)
            else None
        )
        self.val_loss_fn = ContrastiveLoss(self.lcfg, val_ref, self.loss.bases) if val_ref is not None else None
        log.info("reference cached for %d train / %d val pairs in %.1f s", len(self.data), len(self.val), time.perf_counter() - t0)
        self.params = method.trainable()
        self.opt = instantiate(self.cfg.optimizer, params=list(self.params.values()))
        self.sched = instantiate(self.cfg.scheduler)(self.opt, total_steps=self.cfg.steps)

    def pass_terms(self, batch: dict, loss_fn, idx, coeff, backward_scale: float | None) -> dict[str, float]:
        """One coeff on one micro-batch: loss components (and their gradient when `backward_scale` is given)."""
        with self.method.apply(self.model, coeff):
            hp, hn, lpp, lpn = forward(self.model, batch, self.readouts, self.k)
            terms = loss_fn.terms(coeff, hp, hn, lpp, lpn, idx)
            total = sum(terms.values())
            if backward_scale is not None and total.requires_grad:
                (total * backward_scale).backward()
        return {k: float(v.detach()) for k, v in terms.items()}

    def step(self, step: int) -> dict[str, float]:
        cfg = self.cfg
        comps = oom.run(self.model, "train", cfg.batch_pairs, lambda micro: self.accumulate(step, micro))
        self.check_divergence(step, comps)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(list(self.params.values()), cfg.max_grad_norm or float("inf")))
        if not math.isfinite(grad_norm):
            raise TrainingError(f"step {step}: gradient norm is {grad_norm}")
        self.opt.step()
        self.sched.step()
        out = {f"loss/{k}": v for k, v in comps.items()}
        out.update({"loss/total": sum(comps.values()), "lr": self.opt.param_groups[0]["lr"], "grad_norm": grad_norm})
        return out

    def accumulate(self, step: int, micro: int) -> dict[str, float]:
        """Gradients of one optimizer step: `grad_accum` batches of `batch_pairs` pairs, each run in pieces of at most
        `micro` pairs weighted by their share (under model.batch_size=auto a batch that does not fit is split; the
        effective batch stays the same)."""
        cfg, comps = self.cfg, {}
        self.opt.zero_grad(set_to_none=True)
        for a in range(cfg.grad_accum):
            idx = batch_indices(len(self.data), cfg.batch_pairs, step * cfg.grad_accum + a, self.ctx.seed)
            for part in idx.split(micro):
                batch, weight = self.data.batch(part, device_of(self.model)), len(part) / len(idx)
                for coeff in (1.0, -1.0):
                    for name, value in self.pass_terms(batch, self.loss, part, coeff, weight / cfg.grad_accum).items():
                        if not math.isfinite(value):
                            raise TrainingError(f"step {step}: loss component {name!r} is {value} at coeff={coeff:+g}")
                        comps[name] = comps.get(name, 0.0) + value * weight / cfg.grad_accum
        return comps

    def check_divergence(self, step: int, comps: dict[str, float]) -> None:
        """Stop like a NaN does when a loss component explodes relative to its size at this process's first step."""
        first = self.first_loss
        if first is None:
            self.first_loss = {k: abs(v) for k, v in comps.items()}
            return
        for name, value in comps.items():
            scale = max(1.0, first.get(name, 0.0))
            if abs(value) > self.cfg.diverge_factor * scale:
                raise TrainingError(
                    f"step {step}: loss component {name!r} is {value:.3g}, over train.diverge_factor={self.cfg.diverge_factor:g} × "
                    f"its first-step scale {scale:.3g}: training diverged (lower the learning rate)"
                )

    @torch.no_grad()
    def validate(self) -> float:
        return oom.run(self.model, "validate", self.cfg.batch_pairs, self._validate)

    def _validate(self, size: int) -> float:
        total, n = 0.0, 0
        for start in range(0, len(self.val), size):
            idx = torch.arange(start, min(start + size, len(self.val)))
            batch = self.val.batch(idx, device_of(self.model))
            for coeff in (1.0, -1.0):
                total += sum(self.pass_terms(batch, self.val_loss_fn, idx, coeff, None).values()) * len(idx)
            n += len(idx)
        return total / max(n, 1)


def loop_step(tr: Trainer, ck: Checkpoint, st: dict, step: int, logger, bar) -> bool:
    """One optimisation step with validation, logging and checkpoints; True when early stopping ends training."""
    cfg = tr.cfg
    try:
        metrics = tr.step(step)
    except TrainingError as err:
        path = ck.save(tr, st)
        raise TrainingError(f"{err}; last good checkpoint: {path or 'none (no run folder)'}") from None
    st["step"] = step + 1
    if cfg.val_every and st["step"] % cfg.val_every == 0 and tr.val_loss_fn is not None:
        metrics["val/loss"] = val = tr.validate()
        if val < st["best_val"] - 1e-6:
            st.update(best_val=val, bad=0, best={k: p.detach().clone() for k, p in tr.params.items()})
        else:
            st["bad"] += 1
    logger and logger.log(metrics, step=step)
    if "val/loss" in metrics:
        log.info("step %d/%d: train loss %.4f, val loss %.4f", st["step"], cfg.steps, metrics["loss/total"], metrics["val/loss"])
    bar.set_postfix(loss=f"{metrics['loss/total']:.3f}")
    stop = bool(cfg.val_every) and st["bad"] >= cfg.patience
    if stop or (cfg.checkpoint_every and st["step"] % cfg.checkpoint_every == 0):
        ck.save(tr, st)
    if stop:
        log.info("early stop at step %d: no validation improvement in %d checks", st["step"], cfg.patience)
    return stop


def train(ctx: FitContext, method) -> dict:
    """Train `method`'s adapter on ctx.train; returns what happened (steps, losses, early stop, resume)."""
    tr = Trainer(ctx, method)
    cfg = tr.cfg
    ck = Checkpoint(ctx.folder, {"adapter": method.cfg, "train": cfg, "loss": tr.lcfg, "seed": ctx.seed})
    st = ck.restore(tr) if cfg.resume else None
    st = st or {"step": 0, "best_val": float("inf"), "best": None, "bad": 0, "done": False, "resumed_from": None}
    t0 = time.perf_counter()
    bar = progress(range(st["step"], cfg.steps), desc=f"train {method.name}", leave=True)
    with Deferred() as preempt:
        for step in bar if not st["done"] else []:
            if loop_step(tr, ck, st, step, ctx.logger, bar) or preempt.pending:
                break
        if preempt.pending:
            path = ck.save(tr, st)
            log.warning("checkpoint at step %d written to %s before requeue", st["step"], path)
            ctx.logger and ctx.logger.preempted()
            preempt.release()
    if st["best"] is not None:
        with torch.no_grad():
            for k, p in tr.params.items():
                p.copy_(st["best"][k])
    st["done"] = True
    ck.save(tr, st)
    log.info("trained %s for %d steps in %.1f s (best val loss %.4f)", method.name, st["step"], time.perf_counter() - t0, st["best_val"])
    return {
        "steps": st["step"],
        "best_val_loss": st["best_val"],
        "resumed_from": st["resumed_from"],
        "train_seconds": time.perf_counter() - t0,
    }
