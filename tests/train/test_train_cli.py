"""``largeforge train sft|dpo|merge`` in-process on the tiny model; bad input fails before loading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from largeforge.cli.main import main
from largeforge_train.base import read_log

FAST = [
    "--max-steps",
    "3",
    "--batch-size",
    "2",
    "--gradient-accumulation",
    "1",
    "--max-length",
    "128",
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
def no_model_load(monkeypatch):
    """Make any model load fail loudly: validation must happen before it."""
    import transformers

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)


def test_sft_trains_saves_adapter_log_and_checkpoints(tiny_model_dir, sft_file, tmp_path, capsys):
    out = tmp_path / "sft"
    code = main(
        [
            "train",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sft_file),
            "--output",
            str(out),
            *FAST,
            "--save-steps",
            "1",
            "--save-total-limit",
            "2",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "SFT finished" in printed and "steps           3" in printed and str(out) in printed
    # The adapter in the standard PEFT layout, plus the tokenizer and a run summary.
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert (out / "tokenizer_config.json").is_file()
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["global_step"] == 3 and summary["lora"] is True
    losses = [r["loss"] for r in read_log(out) if "loss" in r]
    assert len(losses) == 3
    # save_total_limit=2 over three saves: the two newest, both complete.
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert all((p / "COMPLETE").is_file() for p in out.glob("checkpoint-*"))

    merged = tmp_path / "merged"
    assert main(["train", "merge", "--adapter", str(out), "--output", str(merged)]) == 0
    assert (merged / "model.safetensors").is_file() and (merged / "config.json").is_file()


def test_sft_with_packing_and_a_yaml_config(tiny_model_dir, sft_file, tmp_path, capsys):
    config = tmp_path / "sft.yaml"
    out = tmp_path / "packed"
    config.write_text(
        f"model: {tiny_model_dir}\ndataset: {sft_file}\noutput_dir: {out}\npacking: true\n"
        "max_steps: 1\nper_device_train_batch_size: 1\ngradient_accumulation_steps: 1\n"
        "max_seq_length: 256\nlogging_steps: 1\nlearning_rate: 5.0e-4\n"
        "lora: {r: 2, lora_alpha: 4, target_modules: auto}\n"
    )
    assert main(["train", "sft", "--config", str(config), "--learning-rate", "1e-3"]) == 0
    summary = json.loads((out / "largeforge_training.json").read_text())
    assert summary["config"]["packing"] is True
    assert summary["config"]["learning_rate"] == 1e-3  # the flag overrides the file
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 2 and set(adapter["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--learning-rate", "-1"], "learning_rate"),
        (["--num-epochs", "0"], "num_train_epochs"),
        (["--max-length", "16"], "max_seq_length"),
        (["--lora-r", "999"], "r"),
    ],
)
def test_bad_flag_values_fail_before_the_model_loads(
    args, message, tiny_model_dir, sft_file, tmp_path, capsys, no_model_load
):
    code = main(
        [
            "train",
            "sft",
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sft_file),
            "--output",
            str(tmp_path / "o"),
            *args,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and message in err and "error:" in err and "Traceback" not in err


def test_bad_config_file_names_file_and_field(tiny_model_dir, sft_file, tmp_path, capsys, no_model_load):
    config = tmp_path / "bad.yaml"
    config.write_text(f"model: {tiny_model_dir}\ndataset: {sft_file}\noutput_dir: {tmp_path}\nwarmup_ratio: 3\n")
    assert main(["train", "sft", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "warmup_ratio" in err
    config.write_text(f"dataset: {sft_file}\noutput_dir: {tmp_path}\nlearning_rat: 0.1\n")
    assert main(["train", "sft", "--config", str(config)]) == 1
    assert "learning_rat" in capsys.readouterr().err
    config.write_text(f"dataset: {sft_file}\noutput_dir: {tmp_path}\nlora: {{r: 0}}\n")
    assert main(["train", "sft", "--config", str(config)]) == 1
    assert "r" in capsys.readouterr().err


def test_bad_dpo_values_fail_before_loading(tiny_model_dir, pref_file, tmp_path, capsys, no_model_load):
    base = ["train", "dpo", "--model", str(tiny_model_dir), "--dataset", str(pref_file), "--output", str(tmp_path)]
    assert main([*base, "--loss-type", "kto"]) == 1
    assert "loss_type" in capsys.readouterr().err
    assert main([*base, "--beta", "2"]) == 1
    assert "beta" in capsys.readouterr().err


def test_bad_data_fails_naming_the_row_before_loading(tiny_model_dir, tmp_path, capsys, no_model_load):
    data = tmp_path / "bad.json"
    data.write_text(
        json.dumps(
            [
                {"instruction": "ok", "input": "", "output": "fine"},
                {"instruction": "", "input": "", "output": "no instruction"},
            ]
        )
    )
    assert (
        main(["train", "sft", "--model", str(tiny_model_dir), "--dataset", str(data), "--output", str(tmp_path / "o")])
        == 1
    )
    err = capsys.readouterr().err
    assert "1 of 2 rows are invalid" in err and ("row 1" in err or "index 1" in err or "[1]" in err)


def test_wrong_kind_of_data_is_refused(tiny_model_dir, sft_file, pref_file, tmp_path, capsys, no_model_load):
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(pref_file),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "use `largeforge train dpo`" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "dpo",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(sft_file),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "needs prompt, chosen and rejected" in capsys.readouterr().err


def test_preflight_stops_the_cli_before_loading(tiny_model_dir, sft_file, tmp_path, capsys, no_model_load):
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(sft_file),
                "--output",
                str(tmp_path / "o"),
                "--eos-token",
                "<|endoftext|>",
            ]
        )
        == 1
    )
    assert "do not end with the tokenizer's EOS token" in capsys.readouterr().err


def test_missing_model_and_output(sft_file, tmp_path, capsys, no_model_load):
    assert main(["train", "sft", "--dataset", str(sft_file)]) == 1
    assert "output_dir is required" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tmp_path / "nope"),
                "--dataset",
                str(sft_file),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "nope" in capsys.readouterr().err


def test_dpo_trains_from_an_sft_adapter(tiny_model_dir, sft_file, pref_file, tmp_path, capsys):
    sft_out = tmp_path / "sft"
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(sft_file),
                "--output",
                str(sft_out),
                *FAST,
                "--max-steps",
                "1",
            ]
        )
        == 0
    )
    dpo_out = tmp_path / "dpo"
    assert (
        main(
            [
                "train",
                "dpo",
                "--model",
                str(sft_out),
                "--dataset",
                str(pref_file),
                "--output",
                str(dpo_out),
                "--max-steps",
                "2",
                "--batch-size",
                "2",
                "--gradient-accumulation",
                "1",
                "--logging-steps",
                "1",
                "--loss-type",
                "ipo",
                "--beta",
                "0.2",
                "--lora-r",
                "4",
                "--max-length",
                "256",
            ]
        )
        == 0
    )
    assert "DPO finished" in capsys.readouterr().out
    logged = [r for r in read_log(dpo_out) if "rewards/margins" in r]
    assert logged and all("rewards/accuracies" in r and "rewards/chosen" in r for r in logged)
    summary = json.loads((dpo_out / "largeforge_training.json").read_text())
    assert summary["config"]["loss_type"] == "ipo" and summary["config"]["beta"] == 0.2
    assert Path(dpo_out / "adapter_model.safetensors").is_file()


def test_sft_with_evaluation_saves_best_and_reports_eval(tiny_model_dir, sft_file, tmp_path, capsys):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "train",
                "sft",
                "--model",
                str(tiny_model_dir),
                "--dataset",
                str(sft_file),
                "--eval-dataset",
                str(sft_file),
                "--output",
                str(out),
                *FAST,
                "--max-steps",
                "2",
                "--eval-steps",
                "1",
                "--save-best",
                "--early-stopping-patience",
                "5",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "eval_loss" in printed and "eval_perplexity" in printed
    assert (out / "best" / "adapter_model.safetensors").is_file()
    evals = [r for r in read_log(out) if "eval_loss" in r]
    assert len(evals) >= 2  # one per step, plus the final evaluation


def test_an_earlier_run_is_not_silently_mixed_in(tiny_model_dir, sft_file, tmp_path, capsys, no_model_load):
    out = tmp_path / "run"
    (out / "checkpoint-4").mkdir(parents=True)
    args = ["train", "sft", "--model", str(tiny_model_dir), "--dataset", str(sft_file), "--output", str(out)]
    assert main(args) == 1
    assert "holds an earlier run (checkpoint-4): pass --resume" in capsys.readouterr().err
    with pytest.raises(AssertionError, match="model was loaded"):  # --overwrite clears it and goes on to load
        main([*args, "--overwrite"])
    assert not (out / "checkpoint-4").exists()


def test_progress_without_a_terminal_is_plain_lines_with_an_eta(tiny_model_dir, sft_file, tmp_path, capsys):
    """Output that is not a terminal (a log file, CI) gets plain progress lines
    (stage, step/total, loss, ETA) — the first one after step 1 with an ETA — not a rich bar's
    last frame."""
    out = tmp_path / "sft"
    assert (
        main(["train", "sft", "--model", str(tiny_model_dir), "--dataset", str(sft_file), "--output", str(out), *FAST])
        == 0
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sft: step ")]
    assert lines[0].startswith("sft: step 1/3 (33%)") and " eta 0:" in lines[0] and "elapsed 0:" in lines[0]
    assert lines[-1].startswith("sft: step 3/3 (100%) loss ") and lines[-1].endswith("eta 0:00:00")
