"""Group relative policy optimisation over TRL's ``GRPOTrainer``: learning from reward functions.

Each step samples ``num_generations`` completions per prompt, scores them with the rewards named
in ``reward_funcs`` (registered through the ``register_rewards`` hook, bound to the config's
settings by :mod:`largeforge.rewards`) and weighs each completion by its reward against its
group's. TRL computes the loss and logs ``reward`` (the weighted sum, averaged over the step's
completions) and ``rewards/<name>/mean`` at every logging step; they land in ``train_log.jsonl``
and, as the first, last and mean logged reward, in the result.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from largeforge.config import GRPOConfig, LoRAConfig
from largeforge.contracts import TrainingResult
from largeforge.errors import ConfigError
from largeforge.rewards import SETTINGS, bind_reward, resolve_rewards
from largeforge_train.base import BaseTrainer
from largeforge_train.grpo_data import check_reward_columns, load_prompt_dataset, to_prompt_dataset

if TYPE_CHECKING:
    import datasets


class GRPOTrainer(BaseTrainer):
    """Reinforcement learning from reward functions on prompt-only rows.

    >>> config = GRPOConfig(output_dir="grpo", reward_funcs=["format_regex"], format_pattern=r"^Answer: ")
    >>> result = GRPOTrainer("smollm2-135m-instruct", config, LoRAConfig(r=16)).train(load_prompt_dataset("q.json"))

    ``reward_funcs`` (a list of registered names or reward callables) overrides the config's.
    """

    method = "grpo"
    data_kind = "prompt"
    config_class = GRPOConfig
    config: GRPOConfig
    trl_config_class = "trl.GRPOConfig"
    trl_trainer_class = "trl.GRPOTrainer"

    def __init__(
        self,
        model_name: str,
        config: GRPOConfig,
        lora_config: LoRAConfig | None = None,
        reward_funcs: list[Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model_name, config, lora_config, **options)
        self.rewards = self._resolve_rewards(reward_funcs)  # a bad reward fails here, before any loading

    def reward_settings(self) -> dict[str, Any]:
        """The config settings rewards may take as parameters."""
        return reward_settings(self.config)

    @classmethod
    def load_stage_data(cls, path: str | Path, config: GRPOConfig | dict[str, Any]) -> datasets.Dataset:
        """The prompt rows of ``path``, checked against the rewards of ``config`` (the forge's
        ``align: {method: grpo}`` stage reads its data through this, at plan time and to train)."""
        cfg = config if isinstance(config, GRPOConfig) else GRPOConfig.from_dict(config)
        rewards = resolve_rewards(cfg.reward_funcs, reward_settings(cfg), cfg.reward_weights)
        dataset = load_prompt_dataset(path)
        check_reward_columns(rewards, dataset.column_names, str(path))
        return dataset

    def _resolve_rewards(self, reward_funcs: list[Any] | None) -> list[tuple[str, Any]]:
        c = self.config
        if reward_funcs is None or all(isinstance(r, str) for r in reward_funcs):
            names = list(reward_funcs) if reward_funcs is not None else c.reward_funcs
            return resolve_rewards(names, self.reward_settings(), c.reward_weights)
        if c.reward_weights is not None and len(c.reward_weights) != len(reward_funcs):
            raise ConfigError(f"reward_weights has {len(c.reward_weights)} values for {len(reward_funcs)} rewards")
        named = [
            (r, None) if isinstance(r, str) else (getattr(r, "__name__", type(r).__name__), r) for r in reward_funcs
        ]
        out: list[tuple[str, Any]] = []
        for name, func in named:
            out += (
                resolve_rewards([name], self.reward_settings())
                if func is None
                else [(name, bind_reward(name, func, self.reward_settings()))]
            )
        return out

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Prompt rows with every column the rewards read, and whole groups of generations per step."""
        dataset = to_prompt_dataset(train_dataset)
        check_reward_columns(self.rewards, dataset.column_names)
        c = self.config
        world = int(os.environ.get("WORLD_SIZE", "1"))
        completions = c.per_device_train_batch_size * world * c.gradient_accumulation_steps
        if completions % c.num_generations:
            raise ConfigError(
                f"num_generations {c.num_generations}: a step's {completions} completions (per_device_train_batch_size "
                f"{c.per_device_train_batch_size} x gradient_accumulation_steps {c.gradient_accumulation_steps}"
                + (f" x {world} processes" if world > 1 else "")
                + ") must be whole groups: make it a multiple of "
                f"{c.num_generations}"
            )
        return dataset

    def trl_options(self) -> dict[str, Any]:
        """The fields of TRL's ``GRPOConfig`` that follow from ours (any other through ``trl_args``)."""
        c = self.config
        return {
            "num_generations": c.num_generations,
            "max_completion_length": c.max_completion_length,
            "temperature": c.temperature,
            "top_p": c.top_p,
            "beta": c.beta,
            "epsilon": c.epsilon,
            "num_iterations": c.num_iterations,
            "loss_type": c.loss_type,
            "scale_rewards": c.scale_rewards,
            "log_completions": c.log_completions,
            "mask_truncated_completions": c.mask_truncated_completions,
            "reward_weights": c.reward_weights,
            # Dataset columns reach the rewards only when TRL keeps them.
            "remove_unused_columns": False,
        }

    def trainer_options(self) -> dict[str, Any]:
        """The bound reward functions."""
        return {"reward_funcs": [reward for _, reward in self.rewards]}

    def train(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None = None) -> TrainingResult:
        """As :meth:`BaseTrainer.train`; the result's metrics add the logged mean reward's trajectory."""
        result = super().train(train_dataset, eval_dataset)
        result.metrics.pop("perplexity", None)  # exp of a policy-gradient loss means nothing
        result.metrics.update(reward_trajectory(self.trainer.state.log_history))
        self._write_summary(result)
        return result


def reward_settings(config: GRPOConfig) -> dict[str, Any]:
    """The settings of ``config`` rewards may take as parameters (see :mod:`largeforge.rewards`)."""
    return {**{name: getattr(config, name) for name in SETTINGS}, **config.reward_options}


def reward_trajectory(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """``reward_first``, ``reward_last`` and ``reward_mean`` of the training logs' ``reward`` values."""
    rewards = [float(entry["reward"]) for entry in log_history if "reward" in entry and "loss" in entry]
    if not rewards:
        return {}
    return {"reward_first": rewards[0], "reward_last": rewards[-1], "reward_mean": sum(rewards) / len(rewards)}
