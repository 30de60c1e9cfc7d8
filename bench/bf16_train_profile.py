"""Where a bf16 training step spends its time on this CPU: one LoRA step (r = 8, 2 pairs) on the 2-layer
Qwen3-0.6B-width random model, profiled by op and input shape (torch.profiler).

    python bench/bf16_train_profile.py
"""

from __future__ import annotations

import time

from torch.profiler import ProfilerActivity, profile

from steerlab import models
from steerlab.api import make_context
from steerlab.methods.registry import build
from steerlab.models import model_config
from steerlab.train import Trainer


def main() -> None:
    cfg = model_config("arch_qwen3_0_6b")
    cfg.layers, cfg.device, cfg.batch_size = 2, "cpu", 16
    model, tok = models.load(cfg)
    ctx = make_context(
        model, tok, data={"max_pairs": 8}, layers={"indices": [0], "loss": 1}, train={"steps": 10, "batch_pairs": 2, "val_every": 0}
    )
    method = build({"name": "lora", "r": 8})
    method.fit(ctx)
    trainer = Trainer(ctx, method)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        trainer.step(0)
    print(f"one bf16 LoRA step: {time.perf_counter() - t0:.1f} s")
    print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=6))


if __name__ == "__main__":
    main()
