"""Entry point of the train plugin: registers its trainers, its evaluator and commands with the core.

Nothing heavy is imported here: the trainer modules import torch/transformers only when used.
"""

from __future__ import annotations

from typing import Any

import typer

from largeforge import hookimpl
from largeforge.cli.main import get_group


@hookimpl
def register_trainers(register: Any) -> None:
    # The trainer modules (~0.4 s of imports) load when the registries fill, not on plugin load.
    from largeforge_train.cpo import CPOTrainer, ORPOTrainer, SimPOTrainer
    from largeforge_train.dpo import DPOTrainer
    from largeforge_train.grpo import GRPOTrainer
    from largeforge_train.kto import KTOTrainer
    from largeforge_train.sft import SFTTrainer

    register("sft", SFTTrainer)
    register("dpo", DPOTrainer)
    register("grpo", GRPOTrainer)
    register("kto", KTOTrainer)
    register("orpo", ORPOTrainer)
    register("simpo", SimPOTrainer)
    register("cpo", CPOTrainer)


@hookimpl
def register_evaluators(register: Any) -> None:
    from largeforge_train.evaluator import TransformersEvaluator  # with the trainers' modules: lazy

    register("transformers", TransformersEvaluator)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from largeforge_train.cli_generate import build_generate  # command modules: when the CLI is built
    from largeforge_train.cli_train import build_train

    app.add_typer(build_train(), name="train")
    get_group(app, "data").add_typer(build_generate(), name="generate")
