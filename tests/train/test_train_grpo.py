"""``largeforge train grpo``: rewards by name (built-in and a third party's), prompt-only data, the
JSONL log of rewards, checkpoints and resume; bad input fails in one line before the model loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from largeforge import hookimpl
from largeforge.cli.main import main
from largeforge_train.base import read_log
from tests.helpers import SHOUTS_PLUGIN, fake_distribution, run_largeforge

PROMPTS = ["Is the sky blue?", "Is water wet?", "Do cats purr?", "Is fire hot?"]
#: 4 completions of 2 prompts a step, 4 new tokens each: seconds a step on the tiny model
FAST = [
    "--batch-size",
    "4",
    "--num-generations",
    "2",
    "--gradient-accumulation",
    "1",
    "--max-completion-length",
    "4",
    "--logging-steps",
    "1",
    "--lora-r",
    "4",
    "--lora-target-modules",
    "all-linear",
    "--learning-rate",
    "1e-3",
]


@pytest.fixture()
def prompt_file(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": q, "answer": "Yes", "words": 3}) + "\n" for q in PROMPTS))
    return path


@pytest.fixture()
def no_model_load(monkeypatch):
    """Make any model load fail loudly: validation must happen before it."""
    import transformers

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)


class WordBudget:
    """A third party's reward: reads its own column (``words``) and its own setting (``slack``)."""

    @hookimpl
    def register_rewards(self, register):
        def word_budget(completions, words, slack=0, **kwargs):
            return [float(len(c[-1]["content"].split()) <= w + slack) for c, w in zip(completions, words, strict=True)]

        register("word_budget", word_budget)


@pytest.fixture()
def with_reward_plugin():
    """Every installed plugin plus :class:`WordBudget`, as the process-wide manager."""
    from largeforge.plugins import make_plugin_manager, set_plugin_manager

    manager = make_plugin_manager()
    manager.register(WordBudget(), name="word-budget")
    set_plugin_manager(manager)
    yield manager
    set_plugin_manager(None)


def _write(tmp_path: Path, rows: list[dict]) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    return str(path)


@pytest.mark.parametrize(
    ("args", "rows", "message"),
    [
        (
            [],
            None,
            "error: GRPO needs at least one reward: set reward_funcs (registered: exact_match, contains_answer, "
            "format_regex, json_valid)",
        ),
        (
            ["--reward", "nope"],
            None,
            "error: unknown reward 'nope' (registered: exact_match, contains_answer, format_regex, json_valid)",
        ),
        (["--reward", "format_regex"], None, "error: reward 'format_regex' needs format_pattern"),
        (["--reward", "format_regex", "--format-pattern", "(["], None, "not a regular expression"),
        (
            ["--reward", "exact_match,json_valid", "--reward-weights", "1"],
            None,
            "reward_weights has 1 values for 2 reward_funcs",
        ),
        (
            ["--reward", "exact_match", "--reference-column", "solution"],
            None,
            "prompts.jsonl: reward 'exact_match' reads the column 'solution', which the data lacks "
            "(columns: prompt, answer,",
        ),
        (
            ["--reward", "json_valid"],
            [{"prompt": "q", "chosen": "a", "rejected": "b"}],
            "`largeforge train grpo` needs prompts alone, but this is preference pairs (prompt/chosen/rejected): use "
            "`largeforge train dpo`",
        ),
        (
            ["--reward", "json_valid"],
            [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}],
            "data.json: row 0: messages: the last message is the assistant's; GRPO generates the reply",
        ),
        (
            ["--reward", "json_valid"],
            [{"messages": [{"role": "user", "content": "q"}], "label": True, "completion": "a"}],
            "use `largeforge train kto`",
        ),
        (
            ["--reward", "json_valid", "--num-generations", "3"],
            None,
            "num_generations 3: a step's 4 completions (per_device_train_batch_size 4 x gradient_accumulation_steps 1) "
            "must be whole groups",
        ),
    ],
)
def test_bad_input_fails_in_one_line_before_the_model_loads(
    args, rows, message, tiny_model_dir, prompt_file, tmp_path, capsys, no_model_load
):
    data = _write(tmp_path, rows) if rows is not None else str(prompt_file)
    code = main(
        [
            "train",
            "grpo",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            data,
            "--output",
            str(tmp_path / "out"),
            *FAST,
            *args,
        ]
    )  # a repeated flag: the last one counts
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert message in err, err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_grpo_trains_logs_rewards_checkpoints_and_resumes(
    tiny_model_dir, prompt_file, tmp_path, capsys, with_reward_plugin
):
    out = tmp_path / "grpo"
    config = tmp_path / "grpo.yaml"
    config.write_text(
        "reward_funcs: [format_regex, word_budget]\nreward_weights: [1.0, 0.5]\n"
        "format_pattern: '^\\s*[A-Za-z]'\nreward_options: {slack: 1}\n"
    )
    run = [
        "train",
        "grpo",
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(prompt_file),
        "--output",
        str(out),
        "--config",
        str(config),
        *FAST,
        "--save-steps",
        "1",
    ]
    assert main([*run, "--max-steps", "2"]) == 0
    captured = capsys.readouterr()
    assert "GRPO finished" in captured.out and "reward_last" in captured.out
    assert re.search(r"grpo: step 2/2 \(100%\) loss \S+ reward \d", captured.err), captured.err  # progress line
    rows = [r for r in read_log(out) if "reward" in r]
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:  # TRL's weighted sum of the two rewards, each logged under its registered name
        assert {"rewards/format_regex/mean", "rewards/word_budget/mean"} <= set(r)
        expected = r["rewards/format_regex/mean"] + 0.5 * r["rewards/word_budget/mean"]
        assert r["reward"] == pytest.approx(expected, abs=1e-5)
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["method"] == "grpo" and summary["metrics"]["reward_first"] == pytest.approx(rows[0]["reward"])
    assert summary["config"]["reward_funcs"] == ["format_regex", "word_budget"]
    assert (out / "adapter_model.safetensors").is_file() and (out / "checkpoint-2" / "COMPLETE").is_file()

    assert main([*run, "--max-steps", "3", "--resume"]) == 0
    assert [r["step"] for r in read_log(out) if "reward" in r] == [1, 2, 3]
    assert json.loads((out / "largeforge_training.json").read_text())["global_step"] == 3


def test_print_config_shows_rewards_and_trl_fields(tiny_model_dir, prompt_file, tmp_path, capsys):
    import yaml

    code = main(
        [
            "train",
            "grpo",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(prompt_file),
            "--output",
            str(tmp_path / "o"),
            "--reward",
            "exact_match",
            "--reward",
            "json_valid",
            "--reward-weights",
            "2,1",
            "--generation_batch_size",
            "8",
            "--print-config",
        ]
    )
    assert code == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["reward_funcs"] == ["exact_match", "json_valid"] and shown["reward_weights"] == [2.0, 1.0]
    assert shown["generation_batch_size"] == 8 and shown["num_generations"] == 8


def test_a_third_party_reward_is_usable_by_name(tmp_path, prompt_file):
    """A reward a distribution announces through an entry point is resolved by ``train grpo``
    before anything loads."""
    fake_distribution(tmp_path, "lf-rewards", "0.3.0", "rewards", "lf_rewards_plugin", SHOUTS_PLUGIN)
    args = ["--dataset", str(prompt_file), "--output", str(tmp_path / "o"), "--reward", "shouts,json_valid"]
    shown = run_largeforge(["train", "grpo", *args, "--print-config"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "reward_funcs:\n- shouts\n- json_valid\n" in shown.stdout


@pytest.mark.slow
def test_grpo_mean_reward_rises_on_a_format_task(smollm2_dir, tmp_path, capsys):
    """SmolLM2 asked to begin with "Yes": about a quarter of its sampled answers do; after one LoRA
    update at a high learning rate nearly all do (measured: 0.25, then 1.0 from step 2 on)."""
    questions = [
        "Is the sky blue?",
        "Is water wet?",
        "Do cats purr?",
        "Is fire hot?",
        "Do birds fly?",
        "Is ice cold?",
        "Is the sun bright?",
        "Do fish swim?",
    ]
    data = tmp_path / "yes.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"{q} Begin your answer with the word Yes."}) + "\n" for q in questions)
    )
    out = tmp_path / "grpo"
    code = main(
        [
            "train",
            "grpo",
            "--model",
            "smollm2-135m-instruct",
            "--dataset",
            str(data),
            "--output",
            str(out),
            "--reward",
            "format_regex",
            "--format-pattern",
            r"^\s*Yes\b",
            "--num-generations",
            "4",
            "--batch-size",
            "8",
            "--gradient-accumulation",
            "1",
            "--max-completion-length",
            "4",
            "--max-steps",
            "5",
            "--logging-steps",
            "1",
            "--learning-rate",
            "2e-3",
            "--warmup-ratio",
            "0",
            "--lora-r",
            "16",
            "--lora-alpha",
            "32",
            "--lora-target-modules",
            "all-linear",
            "--seed",
            "0",
        ]
    )
    assert code == 0
    rewards = [r["reward"] for r in read_log(out) if "reward" in r]
    assert len(rewards) == 5
    # 8 completions a step: the base model's first step against the last three (a 0.4 margin is
    # several standard errors of an 8-sample rate).
    assert rewards[0] <= 0.5 and min(rewards[-3:]) >= rewards[0] + 0.4, rewards
    summary = json.loads((out / "largeforge_training.json").read_text())["metrics"]
    assert summary["reward_first"] == rewards[0] and summary["reward_last"] == rewards[-1]
