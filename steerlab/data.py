"""Contrastive prompt pairs (SPEC §1): persona word swapped, same assistant suffix, split by suffix."""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from steerlab.config import DataConfig
from steerlab.errors import DataError


@dataclass(frozen=True)
class Pair:
    pos: str  # rendered prompt with the positive persona
    neg: str  # same suffix, negative persona
    suffix: str  # the suffix it came from (the unit of the train/val split)
    part: str  # the assistant-turn text actually used (a token prefix of `suffix` when expanded)


def load_strings(spec: str, builtin: str, key: str) -> list[str]:
    """A JSON list of non-empty strings: steerlab's own `resources/<builtin>` ('builtin') or the file at `spec`.

    `key` names the config key in error messages (e.g. 'data.suffixes').
    """
    if spec == "builtin":
        return json.loads(resources.files("steerlab.resources").joinpath(builtin).read_text())
    path = Path(spec).expanduser()
    if not path.is_file():
        raise DataError(f"{key}: no such file {path}")
    try:
        items = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{key}: {path} is not valid JSON ({e})") from None
    if not isinstance(items, list) or not items or not all(isinstance(s, str) and s.strip() for s in items):
        raise DataError(f"{key}: {path} must hold a non-empty JSON list of strings, none of them blank")
    return items


def load_suffixes(spec: str) -> list[str]:
    """The project's own suffix list ('builtin') or a JSON list of strings at `spec`."""
    return load_strings(spec, "suffixes.json", "data.suffixes")


def render(tokenizer, user: str, assistant_prefix: str = "") -> str:
    """Chat-format `user` and start the assistant turn with `assistant_prefix` (continued, no new turn).

    steerlab tokenizes rendered text with `add_special_tokens=False` because a chat template writes its own start
    token. A model without a template gets plain text, led by its BOS token when its tokenizer adds one on its own.
    """
    if getattr(tokenizer, "chat_template", None):
        head = tokenizer.apply_chat_template([{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True)
    else:
        head = f"{bos_text(tokenizer)}{user}\n"
    return head + assistant_prefix


def bos_text(tokenizer) -> str:
    """The BOS token's text if the tokenizer puts it before plain text by default (Gemma, Llama), else "" (GPT-2).

    Gemma-3-270M read without its <bos> answers every calibration prompt with `<h2><h2><h2>…` (issue 25's ladder found
    it: base distinct-2 0.058); with it, it continues in English.
    """
    bos, bos_id = getattr(tokenizer, "bos_token", None), getattr(tokenizer, "bos_token_id", None)
    if not bos or bos_id is None:
        return ""
    ids = tokenizer("a")["input_ids"]
    return bos if ids and ids[0] == bos_id and ids != tokenizer("a", add_special_tokens=False)["input_ids"] else ""


def expand(tokenizer, suffix: str) -> list[str]:
    """repeng-style expansion: the suffix truncated after each of its tokens."""
    ids = tokenizer(suffix, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(ids[:k]) for k in range(1, len(ids) + 1)]


def persona_prompt(template: str, persona: str) -> str:
    check_template(template)
    return template.format(persona=persona)


def check_template(template: str) -> None:
    """`data.template` has a `{persona}` slot and no other `{...}` field (str.format would fail on it)."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise DataError(f"data.template={template!r}: {e} (write a literal brace as {{{{ or }}}})") from None
    if "persona" not in fields:
        raise DataError(f"data.template must contain '{{persona}}': {template!r}")
    if fields - {"persona"}:
        raise DataError(f"data.template={template!r}: only {{persona}} may be in braces, found {sorted(fields - {'persona'})}")


def check_data(cfg: DataConfig) -> list[str]:
    """Every check of the pairs config that needs no tokenizer (before any model work); the distinct suffixes."""
    if len(cfg.personas) != 2:
        raise DataError(f"data.personas needs exactly two entries (positive, negative), got {list(cfg.personas)}")
    if cfg.personas[0].strip() == cfg.personas[1].strip():
        raise DataError(f"data.personas={list(cfg.personas)}: the two personas are the same, so the pairs contrast nothing")
    check_template(cfg.template)
    if not 0 < cfg.val_fraction < 1:
        raise DataError(f"data.val_fraction={cfg.val_fraction} must be in (0, 1)")
    suffixes = list(dict.fromkeys(load_suffixes(cfg.suffixes)))
    if len(suffixes) < 2:
        raise DataError("data.suffixes: need at least two distinct suffixes to split train/val")
    return suffixes


def _pairs(tokenizer, cfg: DataConfig, suffixes: list[str]) -> list[Pair]:
    pos_user, neg_user = (persona_prompt(cfg.template, p) for p in cfg.personas)
    out = []
    for suffix in suffixes:
        for part in expand(tokenizer, suffix) if cfg.expand else [suffix]:
            out.append(Pair(render(tokenizer, pos_user, part), render(tokenizer, neg_user, part), suffix, part))
    return out


def make_pairs(tokenizer, cfg: DataConfig, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """Train and validation pairs; no suffix appears in both. Deterministic for a given seed."""
    suffixes = check_data(cfg)
    rng = random.Random(seed)
    rng.shuffle(suffixes)
    n_val = max(1, round(len(suffixes) * cfg.val_fraction))
    train, val = _pairs(tokenizer, cfg, suffixes[n_val:]), _pairs(tokenizer, cfg, suffixes[:n_val])
    if cfg.max_pairs:
        n_train = max(1, round(cfg.max_pairs * (1 - cfg.val_fraction)))
        train = _cap(train, n_train, rng)
        val = _cap(val, max(1, cfg.max_pairs - n_train), rng)
    return train, val


def _cap(pairs: list[Pair], n: int, rng: random.Random) -> list[Pair]:
    return pairs if len(pairs) <= n else rng.sample(pairs, n)
