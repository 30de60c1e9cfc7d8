"""Tiny random-init models and a small BPE tokenizer, built in code so unit tests need no files."""

from __future__ import annotations

import json
from importlib import resources

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

from steerlab.config import TinyConfig
from steerlab.errors import ConfigError

# A real architecture (model=arch_*) at narrow width: its config values with these overrides, so a check on CPU builds
# the same layer types in seconds (tests/test_arch.py, bench/gpu_check.py --cpu).
NARROW_ARCH = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "vocab_size": 1024,
}

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>"]


def _corpus() -> list[str]:
    """Text the tokenizer is trained on: the project's suffixes and dilemmas, plus the eval answer format."""
    res = resources.files("steerlab.resources")
    lines = json.loads(res.joinpath("suffixes.json").read_text())
    for d in json.loads(res.joinpath("dilemmas.json").read_text()):
        lines += [d["situation"], d["to_do"]["action"], d["not_to_do"]["action"]]
    lines += ["My choice: Yes", "My choice: No", "yes no Yes No honest dishonest person"] * 50
    return lines


def tiny_tokenizer(vocab_size: int = 512) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>", padding_side="left")
    fast.chat_template = CHATML
    return fast


def tiny_model(cfg: TinyConfig, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.nn.Module, PreTrainedTokenizerFast]:
    """A random-init causal LM of family `cfg.arch` with the tiny tokenizer (initialised in fp32, then cast, so a bf16
    model is the fp32 one rounded)."""
    tok = tiny_tokenizer(cfg.vocab_size)
    config = tiny_config(cfg, len(tok), tok.pad_token_id, tok.eos_token_id)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).to(dtype)
    return model.eval(), tok


def tiny_config(cfg: TinyConfig, vocab_size: int | None = None, pad_id: int = 0, eos_id: int = 2):
    """The transformers config of a tiny model (`vocab_size` defaults to the configured one)."""
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen3Config

    families = {"llama": LlamaConfig, "qwen3": Qwen3Config, "gemma3": Gemma3TextConfig}
    if cfg.arch not in families:
        raise ConfigError(f"model.tiny.arch={cfg.arch!r}: choose one of {sorted(families)}")
    return families[cfg.arch](
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_kv_heads,
        head_dim=cfg.hidden_size // cfg.num_heads,
        vocab_size=vocab_size or cfg.vocab_size,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=None,
        max_position_embeddings=1024,
    )
