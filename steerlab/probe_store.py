"""The strength calibration's KL probe (the base model's greedy continuations of the neutral prompts and its
log-probs along them), stored once per model, dtype, prompts and tokens under `<fit_cache_dir>/probes/<key>/` and
shared by every method and job that calibrates on it (the layout: steerlab.cache)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

import torch
from omegaconf import DictConfig

from steerlab.cache import MARKER, code_of, counted, digest, enabled, publish, root_of
from steerlab.config import ModelConfig

log = logging.getLogger(__name__)


def probe_key(cfg: DictConfig, users: list[str]) -> str:
    model = {k: v for k, v in counted(cfg.model, ModelConfig).items() if k != "batch_size"}
    s = cfg.strength
    return digest({"model": model, "users": users, "tokens": s.tokens, "batch_size": s.batch_size, "code": code_of(cfg)})


def kl_probe(cfg: DictConfig, model, tok):
    """The strength calibration's KLProbe: read from `<fit_cache_dir>/probes/<key>/` when there, else built and stored.
    A cached probe equals a fresh one to the bit (same token ids, same float32 log-probs)."""
    from safetensors.torch import load_file, save_file

    from steerlab.strength import KLProbe, check

    users = check(cfg.strength)
    if not enabled(cfg):
        return KLProbe.build(model, tok, users, cfg.strength.tokens, cfg.strength.batch_size)
    folder = root_of(cfg) / "probes" / probe_key(cfg, users)
    if (folder / MARKER).is_file() and cfg.get("reuse", True):
        try:
            t = load_file(folder / "probe.safetensors")
            n = len(users)
            probe = KLProbe(users, [t[f"cont.{i}"].tolist() for i in range(n)], [t[f"base.{i}"] for i in range(n)], cfg.strength.batch_size)
            log.info("KL probe reused from %s (%d prompts, %d tokens)", folder, n, sum(len(c) for c in probe.conts))
            return probe
        except Exception as e:  # noqa: BLE001
            log.warning("KL probe cache %s unreadable (%s); building it again", folder, e)
    t0 = time.perf_counter()
    probe = KLProbe.build(model, tok, users, cfg.strength.tokens, cfg.strength.batch_size)
    tensors = {f"cont.{i}": torch.tensor(c, dtype=torch.long) for i, c in enumerate(probe.conts)}
    tensors.update({f"base.{i}": b.contiguous() for i, b in enumerate(probe.base)})
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, tmp / "probe.safetensors")
    (tmp / "probe.json").write_text(json.dumps({"users": users, "tokens": cfg.strength.tokens, "model": cfg.model.name}))
    (tmp / MARKER).write_text("")
    publish(tmp, folder)
    log.info("KL probe built in %.1f s and stored in %s", time.perf_counter() - t0, folder)
    return probe
