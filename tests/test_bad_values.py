"""The front-door probe (docs/config.md "What is checked"): bad values across every config group, each through `launch.py`.

Each must end in one `error:` line on stderr that names the culprit, exit status 2, no model load and no run folder.
`{tmp}` in an argument is the test's temporary folder, where `files()` wrote the malformed inputs.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import launch

T = "model=tiny_llama"
# (group, arguments, environment, text the error line must contain)
BAD = [
    ("model", ["model=nope"], {}, "model/nope"),
    ("model", ["model.dtype=float99", T], {}, "model.dtype='float99'"),
    ("model", [T, "model.tiny.hidden_size=0"], {}, "model.tiny.hidden_size=0 must be an integer >= 1"),
    ("model", ["model.source=cloud"], {}, "source"),
    ("model", ["model=smollm2_135m", "model.path={tmp}/missing.gguf"], {}, "missing.gguf"),
    ("model", [T, "model.batch_size=lots"], {}, "model.batch_size='lots'"),
    ("model", ["model=arch_qwen3_4b", "model.layers=40"], {}, "model.layers=40: choose 1..36"),
    ("adapter", ["adapter=nope", T], {}, "adapter/nope"),
    ("adapter", ["adapter=ipissa", "adapter.r=-1", T], {}, "adapter.r=-1 must be an integer >= 1"),
    ("adapter", ["adapter=ipissa", "adapter.r=100000", T], {}, "adapter.r=100000 exceeds the rank of the adapted matrices"),
    ("adapter", ["+adapter.unknown=1", T], {}, "Key 'unknown' not in 'PCAConfig'"),
    ("adapter", ["adapter=prompt", "eval.coeffs=[-2,-1,0,1,2]", T], {}, "coefficients"),
    ("adapter", ["adapter.norm_fraction=nan", T], {}, "adapter.norm_fraction=nan must be a finite number"),
    ("layers", ["layers.start=99", T], {}, "layers.start=99"),
    ("layers", ["adapter=ipissa", "layers.modules=[nope_proj]", T], {}, "layers.modules: no Linear named ['nope_proj']"),
    ("loss_space", ["loss_space=nope", T], {}, "loss_space/nope"),
    ("loss_space", ["loss_space.beta=0", T], {}, "loss_space.beta=0"),
    ("metric", ["metric.ci=1.5", T], {}, "metric.ci=1.5"),
    ("data", ["data.personas=[a]", T], {}, "data.personas needs exactly two entries"),
    ("data", ["data.personas=[a,a]", T], {}, "the two personas are the same"),
    ("data", ["data.template=Hello world", T], {}, "data.template must contain '{persona}'"),
    ("data", ["data.suffixes={tmp}/missing.json", T], {}, "missing.json"),
    ("data", ["data.val_fraction=0", T], {}, "data.val_fraction=0"),
    ("eval", ["eval.coeffs=[0,1]", T], {}, "eval.coeffs"),
    ("eval", ["eval.coeffs=[-1,0,1,nan]", T], {}, "eval.coeffs[3]=nan must be a finite number"),
    ("eval", ["eval.samples=99", T], {}, "eval.samples=99"),
    ("eval", ["eval.limit=0", T], {}, "eval.limit=0"),
    ("eval", ["eval.ladder=[0.5,2]", T], {}, "eval.ladder="),
    ("evals", ["evals=[builtin,nope]", T], {}, "Could not load 'evals/nope'. (available: builtin, daily_dilemmas, sentiment, truthfulqa)"),
    (
        "evals",
        ["evals=[builtin,truthfulqa]", "evals.truthfulqa.path=/missing.csv", T],
        {},
        "evals.truthfulqa.path: no such file /missing.csv",
    ),
    ("evals", ["evals=[truthfulqa]", "evals.truthfulqa.path={tmp}/header.csv", T], {}, "header.csv has no questions"),
    ("evals", ["evals=[truthfulqa]", "evals.truthfulqa.task=nope", T], {}, "evals.truthfulqa.task='nope': unknown task"),
    ("evals", ["evals=[daily_dilemmas]", "evals.daily_dilemmas.path=/missing.csv", T], {}, "/missing.csv"),
    ("evals", ["evals.builtin.limit=-5", T], {}, "evals.builtin.limit=-5"),
    ("evals", ["evals.builtin.limit=1", "evals.builtin.val_fraction=0.9", T], {}, "evals.builtin: no reported dilemma left"),
    ("evals", ["evals.builtin.target=no_such_value", T], {}, "evals.builtin.target='no_such_value'"),
    ("evals", ["evals.builtin.scoring=nope", T], {}, "scoring"),
    ("train", ["train.steps=0", T], {}, "train.steps=0 must be an integer >= 1"),
    (
        "train",
        ["adapter=ipissa", "train.optimizer.lr=-1", T],
        {},
        "train.optimizer (torch.optim.AdamW): ValueError: Invalid learning rate: -1",
    ),
    ("train", ["adapter=lora", "train.optimizer._target_=torch.optim.Nope", T], {}, "train.optimizer (torch.optim.Nope): ImportError"),
    ("train", ["adapter=ipissa", "train.scheduler.warmup=2", T], {}, "train.scheduler.warmup=2 must be a fraction"),
    ("strength", ["strength.target=0", T], {}, "strength.target=0"),
    ("strength", ["strength.target=inf", T], {}, "strength.target=inf must be a finite number"),
    ("strength", ["strength.prompts=/missing.json", T], {}, "strength.prompts: no such file /missing.json"),
    ("logger", ["logger=nope", T], {}, "logger/nope"),
    ("launcher", ["hydra/launcher=nope", T], {}, "hydra/launcher/nope"),
    ("top level", ["+eval.limt=20", T], {}, "eval.limt: unknown key (did you mean eval.limit?)"),
    ("top level", ["seed=-1", T], {}, "seed=-1"),
    ("top level", ["out_dir={tmp}/afile/run", T], {}, "out_dir="),
    ("top level", [T], {"STEERLAB_OUTPUTS": "{tmp}/afile/outputs"}, "STEERLAB_OUTPUTS="),
    ("top level", ["fit_cache=maybe", T], {}, "fit_cache"),
]


def files(tmp) -> None:
    """The malformed inputs some probes point at."""
    (tmp / "header.csv").write_text("Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers\n")
    (tmp / "afile").write_text("a file where a folder is expected\n")


def probe(case, tmp):
    group, args, env, needle = case
    fill = lambda s: s.replace("{tmp}", str(tmp))
    return launch([fill(a) for a in args], tmp, env={k: fill(v) for k, v in env.items()})


def test_every_bad_value_is_one_line_exit_2_before_the_model_and_without_a_run_folder(tmp_path):
    """All probes, two at a time (each is one `launch.py` process that must stop before any model work)."""
    cases = []
    for i, case in enumerate(BAD):
        folder = tmp_path / f"probe{i}"
        folder.mkdir()
        files(folder)
        cases.append((case, folder))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        procs = list(pool.map(lambda c: probe(*c), cases))
    failures = []
    for (case, folder), proc in zip(cases, procs):
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        runs = folder / "outputs" / "runs"
        problems = [
            what
            for what, bad in (
                (f"exit {proc.returncode}", proc.returncode != 2),
                (f"{len(lines)} stderr lines", len(lines) != 1),
                (
                    "no 'error:' line naming the culprit",
                    not (lines and lines[-1].startswith("error:") and case[3].replace("{tmp}", str(folder)) in lines[-1]),
                ),
                ("the model loaded", "loaded " in proc.stdout + proc.stderr),
                ("a run folder was left", runs.exists() and any(runs.iterdir())),
            )
            if bad
        ]
        if problems:
            failures.append(f"{case[0]} {case[1]} {case[2]}: {', '.join(problems)}\n    {proc.stderr.strip()[-400:]}")
    assert not failures, f"{len(failures)}/{len(BAD)} probes failed:\n" + "\n".join(failures)


def test_the_probe_covers_every_config_group_and_the_readme_states_its_size():
    from steerlab.config import REPO_ROOT

    groups = {g for g, *_ in BAD}
    assert {
        "model",
        "adapter",
        "layers",
        "loss_space",
        "metric",
        "data",
        "eval",
        "evals",
        "train",
        "strength",
        "logger",
        "launcher",
    } <= groups
    assert len(BAD) >= 30
    assert f"{len(BAD)} bad values" in (REPO_ROOT / "docs" / "config.md").read_text()
