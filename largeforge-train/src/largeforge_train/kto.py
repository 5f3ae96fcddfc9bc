"""Kahneman-Tversky optimisation over TRL's ``KTOTrainer`` (thumbs-up/down data).

Rows are unpaired: a prompt, one reply and a boolean ``label`` (desirable or not), as LargeForge
loads ``messages`` + ``label`` rows (LLaMA-Factory's ``kto_tag``). The reference model is a
separate one when given, else TRL's: the model with its LoRA adapter disabled (or a frozen copy
for full fine-tuning). TRL tokenizes, estimates the KL term within each batch and logs
``rewards/chosen``, ``rewards/rejected``, ``rewards/margins`` and ``kl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.config import KTOConfig, LoRAConfig
from largeforge.data.kinds import check_data_kind
from largeforge_train.base import BaseTrainer
from largeforge_train.dpo import load_reference_model
from largeforge_train.preflight import preflight_kto

if TYPE_CHECKING:
    import datasets


class KTOTrainer(BaseTrainer):
    """KTO on ``prompt``/``completion``/``label`` rows.

    >>> trainer = KTOTrainer("./sft-output", KTOConfig(output_dir="kto"), LoRAConfig(r=16))
    >>> result = trainer.train(DatasetFactory.load("kto_en_demo.json"))
    """

    method = "kto"
    data_kind = "kto"
    config_class = KTOConfig
    trl_config_class = "trl.KTOConfig"
    config: KTOConfig

    def __init__(
        self,
        model_name: str,
        config: KTOConfig,
        lora_config: LoRAConfig | None = None,
        ref_model: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(model_name, config, lora_config, **options)
        self.ref_model_name = ref_model

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check the kind of data and the rendered rows before the model loads."""
        check_data_kind(self.method, self.data_kind, train_dataset)
        preflight_kto(
            train_dataset, self.tokenizer, max_length=self.config.max_length, chat_template=self.chat_template
        )
        return train_dataset

    def _get_training_args(self, has_eval: bool = False) -> Any:
        """TRL's ``KTOConfig`` from ours."""
        c = self.config
        return self.training_args(
            has_eval,
            beta=c.beta,
            loss_type=c.loss_type,
            desirable_weight=c.desirable_weight,
            undesirable_weight=c.undesirable_weight,
            max_length=c.max_length,
        )

    def _create_trainer(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None) -> Any:
        from trl import KTOTrainer as TRLKTOTrainer

        return TRLKTOTrainer(
            model=self._model,
            ref_model=load_reference_model(self.ref_model_name, self.dtype),
            args=self._get_training_args(eval_dataset is not None),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=self.tokenizer,
            peft_config=self.peft_config(),
            callbacks=self.callbacks(eval_dataset is not None),
        )
