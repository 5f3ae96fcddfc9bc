"""``largeforge train grpo``: reinforcement learning from registered reward functions.

Rewards are picked by name (``--reward format_regex --reward exact_match`` or ``reward_funcs:`` in
``--config``), weighted by ``--reward-weights``/``reward_weights``. Everything a run needs — the
rewards, their settings, the columns they read, prompt-only rows — is checked before the model
loads, each failure one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from largeforge_train.cli import (
    LORA_R_HELP,
    PRINT_CONFIG_HELP,
    TARGETS_HELP,
    TrainCommand,
    _build_config,
    _build_lora,
    _model,
    _run,
    _split_config,
    print_config,
    trl_flags,
)


def _weights(value: Optional[str]) -> list[float] | None:
    """``--reward-weights 1,0.5`` as floats (one-line error otherwise)."""
    if value is None:
        return None
    from largeforge.errors import ConfigError

    try:
        return [float(w) for w in value.split(",") if w.strip()]
    except ValueError:
        raise ConfigError(f"--reward-weights {value!r}: expected comma-separated numbers, e.g. 1,0.5") from None


def _rewards(values: Optional[list[str]]) -> list[str] | None:
    """``--reward a --reward b`` or ``--reward a,b``."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def add_grpo_command(app: typer.Typer) -> None:
    """Add ``grpo`` to the ``train`` command group."""

    @app.command(cls=TrainCommand)
    def grpo(
        ctx: typer.Context,
        model: Optional[str] = typer.Option(None, "--model", "-m", help="Model: alias, directory, hub id or adapter."),
        dataset: Optional[Path] = typer.Option(
            None, "--dataset", "-d", help="Prompts (JSON/JSONL: prompt, or messages ending with the user's turn)."
        ),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output directory."),
        config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/TOML/JSON settings; flags override."),
        eval_dataset: Optional[Path] = typer.Option(None, "--eval-dataset", help="Evaluation prompts."),
        reward: Optional[list[str]] = typer.Option(
            None, "--reward", "-r", help="Registered reward (repeat or comma-separate); see `largeforge plugins`."
        ),
        reward_weights: Optional[str] = typer.Option(None, "--reward-weights", help="One weight per reward: 1,0.5."),
        format_pattern: Optional[str] = typer.Option(
            None, "--format-pattern", help="Regular expression the format_regex reward looks for."
        ),
        reference_column: Optional[str] = typer.Option(
            None, "--reference-column", help="Column exact_match/contains_answer compare with."
        ),
        num_generations: Optional[int] = typer.Option(None, "--num-generations", help="Completions per prompt."),
        max_completion_length: Optional[int] = typer.Option(
            None, "--max-completion-length", help="Max generated tokens."
        ),
        temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature."),
        beta: Optional[float] = typer.Option(None, "--beta", help="KL coefficient (0: no reference model)."),
        loss_type: Optional[str] = typer.Option(None, "--loss-type", help="dapo, grpo, dr_grpo, bnpo, cispo, sapo."),
        num_epochs: Optional[int] = typer.Option(None, "--num-epochs", help="Epochs."),
        max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps."),
        batch_size: Optional[int] = typer.Option(
            None, "--batch-size", help="Completions per device and step (x accumulation: whole groups)."
        ),
        grad_accum: Optional[int] = typer.Option(None, "--gradient-accumulation", help="Gradient accumulation."),
        learning_rate: Optional[float] = typer.Option(None, "--learning-rate", "--lr", help="Learning rate."),
        warmup_ratio: Optional[float] = typer.Option(None, "--warmup-ratio", help="Warm-up share of steps."),
        lora_r: Optional[int] = typer.Option(None, "--lora-r", help=LORA_R_HELP),
        lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help="LoRA alpha."),
        lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout", help="LoRA dropout."),
        lora_targets: Optional[str] = typer.Option(None, "--lora-target-modules", help=TARGETS_HELP),
        logging_steps: Optional[int] = typer.Option(None, "--logging-steps", help="Log every N steps."),
        save_steps: Optional[int] = typer.Option(None, "--save-steps", help="Checkpoint every N steps."),
        save_total_limit: Optional[int] = typer.Option(None, "--save-total-limit", help="Checkpoints kept."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
        chat_template: Optional[str] = typer.Option(None, "--chat-template", help="Jinja file or string."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the latest complete checkpoint."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run in the output directory."),
        show_config: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    ) -> None:
        """GRPO: sample completions of each prompt, score them with reward functions, reinforce the better."""
        from largeforge.config import GRPOConfig
        from largeforge.errors import ConfigError
        from largeforge_train.grpo import GRPOTrainer
        from largeforge_train.grpo_data import check_reward_columns, load_prompt_dataset

        run, fields, source = _split_config(config, ctx)
        cfg = _build_config(
            GRPOConfig,
            fields,
            source,
            output,
            dict(
                reward_funcs=_rewards(reward),
                reward_weights=_weights(reward_weights),
                format_pattern=format_pattern,
                reference_column=reference_column,
                num_generations=num_generations,
                max_completion_length=max_completion_length,
                temperature=temperature,
                beta=beta,
                loss_type=loss_type,
                num_train_epochs=num_epochs,
                max_steps=max_steps,
                per_device_train_batch_size=batch_size,
                gradient_accumulation_steps=grad_accum,
                learning_rate=learning_rate,
                warmup_ratio=warmup_ratio,
                logging_steps=logging_steps,
                save_steps=save_steps,
                save_total_limit=save_total_limit,
                seed=seed,
            ),
            trl_flags(ctx, GRPOTrainer),
        )
        lora = _build_lora(
            run, source, dict(lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=lora_targets), lora_r
        )
        template = chat_template or run.get("chat_template")
        # The rewards are resolved here, before the data and the model: a bad name fails first.
        trainer = GRPOTrainer(
            _model(model, run),
            cfg,
            lora,
            chat_template=template,
            eos_token=run.get("eos_token"),
            resume=resume,
            overwrite=overwrite,
        )
        data = dataset or run.get("dataset")
        if data is None:
            raise ConfigError("dataset is required: pass --dataset or set dataset in --config")
        if not Path(data).exists():
            raise ConfigError(f"dataset {data}: no such file")
        train = load_prompt_dataset(data)
        check_reward_columns(trainer.rewards, train.column_names, str(data))
        eval_path = eval_dataset or run.get("eval_dataset")
        evaluation = load_prompt_dataset(eval_path) if eval_path else None
        if show_config:
            print_config(
                trainer,
                model=trainer.model_name,
                dataset=data,
                eval_dataset=eval_path,
                chat_template=template,
                eos_token=run.get("eos_token"),
            )
            return
        _run("grpo", trainer, train, evaluation)
