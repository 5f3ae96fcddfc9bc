"""Kahneman-Tversky optimisation over TRL's ``KTOTrainer`` (thumbs-up/down data).

Rows are unpaired: a prompt, one reply and a boolean ``label`` (desirable or not), as LargeForge
loads ``messages`` + ``label`` rows (LLaMA-Factory's ``kto_tag``). The reference model is a
separate one when given, else TRL's: the model with its LoRA adapter disabled (or a frozen copy
for full fine-tuning). TRL tokenizes, estimates the KL term within each batch and logs
``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and ``kl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.config import KTOConfig
from largeforge.data.kinds import check_data_kind
from largeforge_train.preflight import preflight_kto
from largeforge_train.reference import ReferenceModelTrainer

if TYPE_CHECKING:
    import datasets


class KTOTrainer(ReferenceModelTrainer):
    """KTO on ``prompt``/``completion``/``label`` rows.

    >>> trainer = KTOTrainer("./sft-output", KTOConfig(output_dir="kto"), LoRAConfig(r=16))
    >>> result = trainer.train(DatasetFactory.load("kto_en_demo.json"))
    """

    method = "kto"
    data_kind = "kto"
    config_class = KTOConfig
    trl_config_class = "trl.KTOConfig"
    trl_trainer_class = "trl.KTOTrainer"
    config: KTOConfig

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check the kind of data and the rendered rows before the model loads."""
        check_data_kind(self.method, self.data_kind, train_dataset)
        preflight_kto(
            train_dataset, self.tokenizer, max_length=self.config.max_length, chat_template=self.chat_template
        )
        return train_dataset

    def trl_options(self) -> dict[str, Any]:
        """The fields of TRL's ``KTOConfig`` that follow from ours."""
        c = self.config
        return {
            "beta": c.beta,
            "loss_type": c.loss_type,
            "desirable_weight": c.desirable_weight,
            "undesirable_weight": c.undesirable_weight,
            "max_length": c.max_length,
        }
