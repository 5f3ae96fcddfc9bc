"""``largeforge train kto|orpo|simpo|cpo`` through the CLI: the method's signal moves the right way
on a tiny model (reward margins rise over a short real run), KTO trains on LLaMA-Factory's
``kto_en_demo.json`` as it is, and data of the wrong kind fails in one line before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge_train.base import read_log
from tests.helpers import QA

# fmt: off
FAST = ["--batch-size", "4", "--gradient-accumulation", "1", "--max-length", "128", "--logging-steps", "1",
        "--lora-r", "8", "--lora-alpha", "16", "--lora-target-modules", "all-linear", "--warmup-ratio", "0",
        "--save-steps", "1000"]
# fmt: on


def train(method: str, model: Path, data: Path, out: Path, *extra: str) -> int:
    """``largeforge train <method>`` on ``data`` with the fast settings and ``extra`` flags."""
    return main(["train", method, "--model", str(model), "--dataset", str(data), "--output", str(out), *FAST, *extra])


@pytest.fixture()
def no_model_load(monkeypatch):
    """Make any model load fail loudly: validation must happen before it."""
    import transformers

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)


@pytest.fixture()
def kto_file(tmp_path: Path) -> Path:
    """Each question twice: its answer labelled desirable, "I do not know." undesirable (LLaMA-Factory's kto_tag)."""
    path = tmp_path / "kto.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": reply}], "label": label}
        for q, a in QA
        for reply, label in ((a, True), ("I do not know.", False))
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def margins(out: Path) -> list[float]:
    return [row["rewards/margins"] for row in read_log(out) if "rewards/margins" in row]


def assert_rising(values: list[float], steps: int) -> None:
    """The margin ends higher than it started and above zero; the second half beats the first."""
    assert len(values) >= steps - 1, values
    half = len(values) // 2
    assert values[-1] > values[0] and values[-1] > 0, values
    assert sum(values[half:]) / (len(values) - half) > sum(values[:half]) / half, values


def test_kto_reward_margin_rises(tiny_model_dir, kto_file, tmp_path, capsys):
    out = tmp_path / "kto"
    assert (
        train("kto", tiny_model_dir, kto_file, out, "--max-steps", "6", "--learning-rate", "1e-2", "--beta", "0.2") == 0
    )
    assert "KTO finished" in capsys.readouterr().out
    assert_rising(margins(out), 6)
    rows = read_log(out)
    assert all("kl" in row and "rewards/chosen" in row for row in rows if "loss" in row)
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["method"] == "kto" and summary["config"]["beta"] == 0.2
    assert summary["metrics"]["rewards/margins"] == margins(out)[-1]  # the result carries the last signal
    assert (out / "adapter_model.safetensors").is_file()


@pytest.mark.parametrize("method", ["orpo", "simpo"])
def test_reference_free_reward_margin_rises(method, tiny_model_dir, pref_file, tmp_path, capsys):
    out = tmp_path / method
    assert train(method, tiny_model_dir, pref_file, out, "--max-steps", "8", "--learning-rate", "1e-2") == 0
    assert f"{method.upper()} finished" in capsys.readouterr().out
    assert_rising(margins(out), 8)
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["method"] == method and "rewards/accuracies" in summary["metrics"]


def test_cpo_trains_resumes_and_keeps_its_options(tiny_model_dir, pref_file, tmp_path, capsys):
    out = tmp_path / "cpo"
    args = ["--save-steps", "1", "--loss-type", "hinge", "--cpo-alpha", "0.5"]
    assert train("cpo", tiny_model_dir, pref_file, out, *args, "--max-steps", "2") == 0
    assert train("cpo", tiny_model_dir, pref_file, out, *args, "--max-steps", "3", "--resume") == 0
    assert "CPO finished" in capsys.readouterr().out
    assert [row["step"] for row in read_log(out) if "loss" in row] == [1, 2, 3]  # step 3 continued from 2
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["global_step"] == 3 and summary["config"]["loss_type"] == "hinge"


def test_kto_trains_on_llamafactory_kto_demo_without_conversion_and_resumes(
    tiny_model_dir, shared_data, tmp_path, capsys
):
    rows = json.loads((shared_data / "kto_en_demo.json").read_text())[:16]  # the file's first rows, as they are
    assert set(rows[0]) == {"messages", "label"}
    data = tmp_path / "kto_en_demo.json"
    data.write_text(json.dumps(rows))
    out = tmp_path / "out"
    args = ["train", "kto", "--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(out)]
    args += ["--batch-size", "4", "--gradient-accumulation", "1", "--max-length", "512", "--logging-steps", "1"]
    args += ["--lora-r", "4", "--save-steps", "1", "--warmup-ratio", "0"]
    assert main([*args, "--max-steps", "1"]) == 0
    # 6 of these prompts alone fill 512 tokens: TRL drops them, and the preflight says so first
    assert "6 of 16 examples have a prompt of max_length=512 tokens or more" in capsys.readouterr().err
    assert main([*args, "--max-steps", "2", "--resume"]) == 0  # continues at step 2 from checkpoint-1
    assert "KTO finished" in capsys.readouterr().out
    logged = [row for row in read_log(out) if "loss" in row]
    assert [row["step"] for row in logged] == [1, 2] and all("rewards/margins" in row for row in logged)
    assert json.loads((out / "largeforge_training.json").read_text())["global_step"] == 2
    assert (out / "adapter_config.json").is_file()


@pytest.mark.parametrize(
    ("method", "data", "message"),
    [
        (
            "kto",
            "pref_file",
            "pref.json: row 0: `largeforge train kto` needs unpaired preference rows (messages with a "
            "boolean label), but this is preference pairs (prompt/chosen/rejected): use `largeforge "
            "train dpo` (or orpo, simpo, cpo)",
        ),
        (
            "kto",
            "sft_file",
            "sft.json: row 0: `largeforge train kto` needs unpaired preference rows (messages with a "
            "boolean label), but this is SFT conversations (messages, or prompt/completion, without a "
            "label): use `largeforge train sft`",
        ),
        (
            "orpo",
            "kto_file",
            "kto.jsonl: row 0: `largeforge train orpo` needs preference pairs (prompt/chosen/rejected), "
            "but this is unpaired preference rows (messages with a boolean label): use `largeforge "
            "train kto`",
        ),
        ("simpo", "sft_file", "`largeforge train simpo` needs preference pairs"),
        ("cpo", "kto_file", "use `largeforge train kto`"),
        ("sft", "kto_file", "unpaired preference data (messages with a boolean label): use `largeforge train kto`"),
        ("dpo", "kto_file", "unpaired preference data (messages with a boolean label): use `largeforge train kto`"),
    ],
)
def test_wrong_kind_of_data_fails_in_one_line_before_loading(
    method, data, message, request, tiny_model_dir, tmp_path, capsys, no_model_load
):
    path = request.getfixturevalue(data)
    assert (
        main(["train", method, "--model", str(tiny_model_dir), "--dataset", str(path), "--output", str(tmp_path / "o")])
        == 1
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and message in errors[0], errors  # one line (log lines aside)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kto", "--batch-size", "1"], "per_device_train_batch_size must be at least 2 for loss_type kto"),
        (["kto", "--loss-type", "sigmoid"], "loss_type = 'sigmoid' is invalid"),
        (["cpo", "--loss-type", "kto"], "loss_type = 'kto' is invalid"),
        (["simpo", "--simpo-gamma", "-1"], "simpo_gamma = -1.0 is invalid"),
        (["orpo", "--beta", "0"], "beta = 0.0 is invalid"),
    ],
)
def test_bad_method_options_fail_before_loading(
    args, message, tiny_model_dir, kto_file, pref_file, tmp_path, capsys, no_model_load
):
    data = kto_file if args[0] == "kto" else pref_file
    assert (
        main(
            [
                "train",
                args[0],
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(data),
                "--output",
                str(tmp_path / "o"),
                *args[1:],
            ]
        )
        == 1
    )
    assert message in capsys.readouterr().err


def test_print_config_shows_the_method_fields_and_trl_pass_through(
    tiny_model_dir, pref_file, tmp_path, capsys, no_model_load
):
    import yaml

    assert (
        main(
            [
                "train",
                "simpo",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(pref_file),
                "--output",
                str(tmp_path / "o"),
                "--simpo-gamma",
                "0.8",
                "--optim",
                "adamw_torch",
                "--print-config",
            ]
        )
        == 0
    )
    shown = yaml.safe_load(capsys.readouterr().out)
    assert (shown["beta"], shown["simpo_gamma"], shown["cpo_alpha"]) == (2.0, 0.8, 0.0)  # SimPO's defaults
    assert shown["optim"] == "adamw_torch" and shown["lora"]["r"] == 8
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("extra", "expected"), [([], 1), (["--gradient-accumulation", "4"], 4)])
def test_small_data_rule_fits_accumulation_for_preference_methods(
    extra, expected, tiny_model_dir, tmp_path, capsys, no_model_load
):
    """40 pairs at batch 8 make 5 steps an epoch: with the spec's accumulation of 4 the run would
    be too short to learn, so (as for sft/dpo) accumulation drops to 1 unless the user set it."""
    import yaml

    pairs = [{"prompt": f"q{i}?", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(40)]
    data = tmp_path / "pairs.json"
    data.write_text(json.dumps(pairs))
    args = [
        "train",
        "orpo",
        "--model",
        str(tiny_model_dir),
        "--dataset",
        str(data),
        "--output",
        str(tmp_path / "o"),
        "--num-epochs",
        "2",
        "--batch-size",
        "8",
        *extra,
        "--print-config",
    ]
    assert main(args) == 0
    assert yaml.safe_load(capsys.readouterr().out)["gradient_accumulation_steps"] == expected
