import json

import pytest

from steerlab.config import DataConfig
from steerlab.data import expand, load_suffixes, make_pairs
from steerlab.errors import DataError
from tests.helpers import SHARED_DATA


def test_builtin_suffixes_are_many_and_distinct():
    s = load_suffixes("builtin")
    assert len(s) >= 150 and len(set(s)) == len(s)


def test_pairs_differ_only_in_persona_and_split_by_suffix(tiny):
    _, tok = tiny
    train, val = make_pairs(tok, DataConfig(max_pairs=0), seed=0)
    assert not {p.suffix for p in train} & {p.suffix for p in val}
    for p in train[:20]:
        assert "an honest" in p.pos and "a dishonest" in p.neg and "an an " not in p.pos
        assert p.pos.replace("an honest", "X") == p.neg.replace("a dishonest", "X")
        assert p.pos.endswith(p.part) and p.suffix.startswith(p.part.strip()[:3])


def test_expansion_truncates_at_every_token(tiny):
    _, tok = tiny
    parts = expand(tok, "The weather today is")
    assert parts[-1] == "The weather today is" and len(parts) == len(tok("The weather today is")["input_ids"])


def test_cap_and_determinism(tiny):
    _, tok = tiny
    a = make_pairs(tok, DataConfig(max_pairs=40), seed=1)
    b = make_pairs(tok, DataConfig(max_pairs=40), seed=1)
    assert a == b and len(a[0]) + len(a[1]) == 40


@pytest.mark.skipif(not (SHARED_DATA / "repeng").is_dir(), reason="shared data not present")
def test_json_suffix_file(tiny):
    _, tok = tiny
    s = load_suffixes(str(SHARED_DATA / "repeng" / "true_facts.json"))
    assert len(s) == 306
    train, val = make_pairs(tok, DataConfig(suffixes=str(SHARED_DATA / "repeng" / "true_facts.json"), expand=False, max_pairs=0))
    assert len(train) + len(val) == len(set(s))


def test_bad_suffix_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_suffixes(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_suffixes(str(tmp_path / "bad.json"))
    (tmp_path / "dict.json").write_text(json.dumps({"a": 1}))
    with pytest.raises(DataError, match="list of strings"):
        load_suffixes(str(tmp_path / "dict.json"))


def test_plain_prompts_start_with_bos_when_the_tokenizer_adds_one():
    """Without a chat template, render() writes the BOS token the tokenizer would add (callers tokenize with
    add_special_tokens=False); a tokenizer that adds none gets none; a chat template writes its own."""
    from tokenizers import processors

    from steerlab.data import render
    from steerlab.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    assert render(tok, "Hi").startswith("<|im_start|>user")
    tok.chat_template = None
    assert render(tok, "Hi") == "Hi\n"  # no BOS token at all
    tok.bos_token = "<|im_start|>"
    assert render(tok, "Hi") == "Hi\n"  # a BOS token the tokenizer does not add by itself (GPT-2's way)
    bos = tok.convert_tokens_to_ids("<|im_start|>")
    tok._tokenizer.post_processor = processors.TemplateProcessing(single="<|im_start|> $A", special_tokens=[("<|im_start|>", bos)])
    assert render(tok, "Hi") == "<|im_start|>Hi\n"  # Gemma's and Llama's way
    assert tok(render(tok, "Hi"), add_special_tokens=False)["input_ids"] == tok("Hi\n")["input_ids"]
