"""Reference-free preference training over TRL's CPO trainer: ``cpo`` and ``simpo`` (CPO with
SimPO's length-normalised loss and target margin), then ``orpo`` over TRL's ORPO trainer.

They take the same prompt/chosen/rejected pairs as ``dpo`` and need no reference model, so a
step costs about half of DPO's. TRL renders conversational pairs with the chat template and logs
``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and ``rewards/accuracies``
(ORPO also ``nll_loss`` and ``log_odds_ratio``). TRL keeps these trainers in ``trl.experimental``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from largeforge.config import CPOConfig, ORPOConfig, SimPOConfig
from largeforge.data.kinds import check_data_kind
from largeforge_train.base import BaseTrainer
from largeforge_train.preflight import preflight_dpo

if TYPE_CHECKING:
    import datasets

# The user asked for `train orpo`, not for trl.experimental: TRL's import notice about it is noise.
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


class _PairTrainer(BaseTrainer):
    """Shared by the reference-free pair trainers: checks, TRL config, TRL trainer."""

    data_kind = "preference"
    trl_config_class = "trl.experimental.cpo.CPOConfig"
    trl_trainer_class = "trl.experimental.cpo.CPOTrainer"

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check the kind of data and the rendered pairs before the model loads."""
        check_data_kind(self.method, self.data_kind, train_dataset)
        preflight_dpo(
            train_dataset,
            self.tokenizer,
            max_length=self.config.max_length,  # type: ignore[attr-defined]
            chat_template=self.chat_template,
        )
        return train_dataset


class CPOTrainer(_PairTrainer):
    """Contrastive preference optimisation (``loss_type`` sigmoid, hinge, ipo or simpo).

    >>> CPOTrainer("./sft-output", CPOConfig(output_dir="cpo"), LoRAConfig(r=16)).train(pairs)
    """

    method = "cpo"
    config_class = CPOConfig
    config: CPOConfig

    def trl_options(self) -> dict[str, Any]:
        c = self.config
        return {
            "beta": c.beta,
            "loss_type": c.loss_type,
            "cpo_alpha": c.cpo_alpha,
            "simpo_gamma": c.simpo_gamma,
            "label_smoothing": c.label_smoothing,
            "max_length": c.max_length,
        }


class SimPOTrainer(_PairTrainer):
    """SimPO: TRL's CPO with ``loss_type="simpo"``; ``cpo_alpha`` 0 unless set (pure SimPO).

    >>> SimPOTrainer("./sft-output", SimPOConfig(output_dir="simpo"), LoRAConfig(r=16)).train(pairs)
    """

    method = "simpo"
    config_class = SimPOConfig
    config: SimPOConfig

    def trl_options(self) -> dict[str, Any]:
        c = self.config
        return {
            "beta": c.beta,
            "loss_type": "simpo",
            "cpo_alpha": c.cpo_alpha,
            "simpo_gamma": c.simpo_gamma,
            "max_length": c.max_length,
        }


class ORPOTrainer(_PairTrainer):
    """Odds-ratio preference optimisation: SFT and preference in one stage, no reference model.

    >>> ORPOTrainer("smollm2-135m-instruct", ORPOConfig(output_dir="orpo"), LoRAConfig(r=16)).train(pairs)
    """

    method = "orpo"
    config_class = ORPOConfig
    config: ORPOConfig
    trl_config_class = "trl.experimental.orpo.ORPOConfig"
    trl_trainer_class = "trl.experimental.orpo.ORPOTrainer"

    def trl_options(self) -> dict[str, Any]:
        return {"beta": self.config.beta, "max_length": self.config.max_length}
