"""The plugin registers its trainers and commands through the core's hooks."""

from __future__ import annotations

import pytest

import largeforge_train
from largeforge.config import SFTConfig
from largeforge.errors import RegistryError
from largeforge_train import plugin
from largeforge_train.dpo import DPOTrainer
from largeforge_train.factory import TrainerFactory, get_trainer
from largeforge_train.sft import SFTTrainer


def test_trainers_registered_and_created_by_the_factory(pm):
    pm.register(plugin, name="train")
    assert get_trainer("sft") is SFTTrainer and get_trainer("dpo") is DPOTrainer
    with pytest.raises(RegistryError, match="sft"):
        get_trainer("ppo")
    trainer = TrainerFactory.create("sft", "smollm2-135m-instruct", {"output_dir": "out", "packing": True}, {"r": 4})
    assert isinstance(trainer, SFTTrainer) and trainer.config.packing and trainer.lora_config.r == 4
    assert isinstance(TrainerFactory.create("sft", "m", SFTConfig(output_dir="o")), SFTTrainer)


def test_lazy_public_names():
    assert largeforge_train.SFTTrainer is SFTTrainer
    assert largeforge_train.LoRAConfig.__name__ == "LoRAConfig"
    with pytest.raises(AttributeError):
        _ = largeforge_train.Nope


def test_train_and_generate_commands_exist(capsys):
    from largeforge.cli.main import main

    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "sft" in out and "dpo" in out and "merge" in out
    assert main(["data", "generate", "--help"]) == 0
    assert "preference" in capsys.readouterr().out
