"""The shipped example configs load: training YAML through the CLI's reader, Accelerate's own loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from largeforge.config import DPOConfig, LoRAConfig, SFTConfig
from largeforge.data import DatasetFactory
from largeforge_train.cli import _split_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(("name", "config_cls"), [("sft_identity.yaml", SFTConfig), ("dpo.yaml", DPOConfig)])
def test_training_configs_validate(name, config_cls):
    run, fields, source = _split_config(EXAMPLES / "train" / name)
    config = config_cls.from_dict(fields, source=source)
    lora = LoRAConfig.from_dict(run["lora"])
    assert config.output_dir.startswith("runs/") and lora.target_modules == "all-linear"
    assert run["model"]


def test_example_pairs_load_as_preference_data():
    dataset = DatasetFactory.load(EXAMPLES / "train" / "pairs.json")
    assert len(dataset) == 8 and {"prompt", "chosen", "rejected"} <= set(dataset.column_names)


@pytest.mark.parametrize("path", sorted((EXAMPLES / "accelerate").glob("*.yaml")), ids=lambda p: p.name)
def test_accelerate_configs_load(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    assert config.num_processes >= 2
    assert str(config.distributed_type).rsplit(".", 1)[-1] in {"DEEPSPEED", "FSDP", "MULTI_GPU"}
