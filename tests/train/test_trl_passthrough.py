"""Every field of the trainer's TRL config from YAML and flags, --print-config and --help defaults."""

from __future__ import annotations

import pytest
import yaml

from largeforge.cli.main import main
from tests.helpers import write_trl_pipeline


@pytest.fixture()
def no_model_load(monkeypatch):
    """Make any model load fail loudly: validation must happen before it."""
    import transformers

    def boom(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was validated")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)


def test_trl_fields_from_yaml_and_flags_reach_the_trl_config(tiny_model_dir, sft_file, tmp_path):
    import torch

    out = tmp_path / "out"
    config = tmp_path / "sft.yaml"
    # TRL's names, written flat as for TrlParser; max_length is TRL's name of our max_seq_length.
    config.write_text(
        f"output_dir: {out}\noptim: adamw_torch\nlr_scheduler_type: cosine\nmax_length: 128\n"
        "neftune_noise_alpha: 5\nlr_scheduler_kwargs: {}\nreport_to: none\n"
    )
    code = main(
        [
            "train",
            "sft",
            "--config",
            str(config),
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sft_file),
            "--max-steps",
            "1",
            "--batch-size",
            "2",
            "--gradient-accumulation",
            "1",
            "--save-steps",
            "1",
            "--lora-r",
            "2",
            "--optim",
            "sgd",
            "--adam-beta2=0.99",
            "--warmup_steps",
            "0",
            "--dataloader_drop_last",
        ]
    )
    assert code == 0
    args = torch.load(out / "checkpoint-1" / "training_args.bin", weights_only=False)
    assert type(args).__module__.startswith("trl")
    assert (args.optim, args.lr_scheduler_type) == ("sgd", "cosine")  # the flag wins over the file
    assert (args.adam_beta2, args.neftune_noise_alpha, args.warmup_steps, args.dataloader_drop_last) == (
        0.99,
        5.0,
        0.0,
        True,
    )
    assert args.max_length == 128 and args.output_dir == str(out)


@pytest.mark.parametrize(
    ("where", "args", "messages"),
    [
        ("yaml", "optimm: sgd\n", ["optimm: unknown field", "did you mean 'optim'", "trl.SFTConfig"]),
        ("yaml", "num_train_epoch: 2\n", ["num_train_epoch: unknown field", "did you mean 'num_train_epochs'"]),
        ("yaml", "padding_free: true\n", ["padding_free: LargeForge sets this field", "use packing"]),
        ("yaml", "tf32: maybe\n", ["tf32 = 'maybe' is invalid: expected bool"]),
        ("yaml", "optim: nope\n", ["trl.SFTConfig:", "nope is not a valid OptimizerNames"]),
        ("yaml", "max_length: 256\nmax_seq_length: 512\n", ["max_length (TRL's name) and max_seq_length"]),
        ("flag", ["--optimm", "sgd"], ["--optimm: no such option", "did you mean '--optim'"]),
        ("flag", ["--num-epoch", "2"], ["did you mean '--num-epochs'"]),
    ],
)
def test_unknown_or_bad_trl_fields_fail_in_one_line_before_the_model_loads(
    where, args, messages, tiny_model_dir, sft_file, tmp_path, capsys, no_model_load
):
    config = tmp_path / "sft.yaml"
    config.write_text(f"output_dir: {tmp_path / 'o'}\n" + (args if where == "yaml" else ""))
    code = main(
        [
            "train",
            "sft",
            "--config",
            str(config),
            "--model",
            str(tiny_model_dir),
            "--dataset",
            str(sft_file),
            *(args if where == "flag" else []),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for message in messages:
        assert message in err


def test_print_config_shows_resolved_settings_and_reads_back(
    tiny_model_dir, pref_file, tmp_path, capsys, no_model_load
):
    base = ["train", "dpo", "--model", str(tiny_model_dir), "--dataset", str(pref_file)]
    code = main(
        [
            *base,
            "--output",
            str(tmp_path / "o"),
            "--beta",
            "0.2",
            "--lora-target-modules",
            "all-linear",
            "--label_smoothing",
            "0.1",
            "--report_to",
            "tensorboard",
            "--print-config",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    data = yaml.safe_load(printed)
    assert (data["beta"], data["label_smoothing"], data["report_to"]) == (0.2, 0.1, "tensorboard")
    assert data["max_length"] == 1024 and data["num_train_epochs"] == 3  # our defaults, not TRL's
    assert data["lora"]["target_modules"] == "all-linear" and data["lora"]["r"] == 8
    assert data["model"] == str(tiny_model_dir) and data["output_dir"] == str(tmp_path / "o")
    assert not (tmp_path / "o").exists()  # nothing ran
    saved = tmp_path / "resolved.yaml"
    saved.write_text(printed)
    assert main(["train", "dpo", "--config", str(saved), "--print-config"]) == 0
    assert capsys.readouterr().out == printed


def test_help_shows_defaults_and_the_trl_pass_through(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one line per option
    assert main(["train", "sft", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for default in (
        "[default: (3)]",
        "[default: (2048)]",
        "[default: (2e-05)]",
        "[default: (q_proj,v_proj)]",
        "--print-config",
        "Any field of trl.SFTConfig is a flag too",
    ):
        assert default in text, default


def test_forge_refuses_unknown_trl_fields(tmp_path, capsys):
    """The SFT trainer checks a stage's TRL fields when the plan is made (the whole plan, which
    needs a server and a router too, prints each stage's config in tests/e2e)."""
    assert main(["forge", str(write_trl_pipeline(tmp_path, "optimm: sgd")), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "pipeline.yaml:8" in err and "optimm: unknown field (did you mean 'optim'?)" in err
