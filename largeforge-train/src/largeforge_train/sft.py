"""Supervised fine-tuning over TRL's ``SFTTrainer``.

Loss on completions only by default (``train_on_prompt`` trains whole sequences), packing through
TRL, LoRA through PEFT. TRL's own collator pads and builds labels, so there is no collator here.

Unpacked batches are padded to their longest example (TRL's collator). Packing is TRL's
best-fit-decreasing packing (whole examples, each truncated at ``max_seq_length`` as without
packing), re-packed so one row holds about ``per_device_train_batch_size`` examples and trained one
row per step, padding-free: no padding token is computed, position ids restart at every example
and, under ``sdpa``, attention runs per example instead of over a dense mask of the whole batch
(see :mod:`largeforge_train.packing`). A packed run thus takes about as many examples per step, and
steps per epoch, as the same run unpacked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from largeforge.config import LoRAConfig, SFTConfig
from largeforge_train.base import BaseTrainer
from largeforge_train.packing import PACKING_STRATEGY, pack_to_batch, use_packed_attention
from largeforge_train.preflight import preflight_sft
from largeforge_train.sft_data import to_prompt_completion

if TYPE_CHECKING:
    import datasets


class SFTTrainer(BaseTrainer):
    """LoRA or full supervised fine-tuning.

    >>> trainer = SFTTrainer("smollm2-135m-instruct", SFTConfig(output_dir="out"), LoRAConfig(r=16))
    >>> result = trainer.train(DatasetFactory.load("data.json"))
    """

    method = "sft"
    data_kind = "sft"
    config_class = SFTConfig
    config: SFTConfig
    trl_config_class = "trl.SFTConfig"
    trl_trainer_class = "trl.SFTTrainer"
    trl_managed: ClassVar[dict[str, str]] = {
        **BaseTrainer.trl_managed,
        "completion_only_loss": "train_on_prompt (its opposite)",
        "padding_free": "packing",
        "packing_strategy": "packing",
        "eos_token": "eos_token / --eos-token",
    }
    #: Packed rows of about a batch of examples, one per step (False: TRL's ``batch`` rows of
    #: ``max_seq_length`` tokens per step, several times the examples and tokens of a batch).
    pack_rows_to_batch: bool = True

    def __init__(
        self, model_name: str, config: SFTConfig, lora_config: LoRAConfig | None = None, **options: Any
    ) -> None:
        super().__init__(model_name, config, lora_config, **options)

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Prompt/completion rows, checked by :func:`preflight_sft`."""
        dataset = to_prompt_completion(train_dataset)
        report = preflight_sft(
            dataset,
            self.tokenizer,
            max_length=self.config.max_seq_length,
            completion_only=not self.config.train_on_prompt,
            packing=self.config.packing,
        )
        self.tokens_per_example = report.trained_tokens / report.checked if report.checked else None
        return dataset

    def packed_attention(self) -> bool:
        """Packed batches attend per example (see :func:`largeforge_train.packing.use_packed_attention`)."""
        return use_packed_attention(self._model)

    def trl_options(self) -> dict[str, Any]:
        """The fields of TRL's ``SFTConfig`` that follow from ours."""
        c = self.config
        options: dict[str, Any] = {}
        if c.packing and self.pack_rows_to_batch:
            # One packed row per step, holding about a batch of examples (see _create_trainer).
            options.update(per_device_train_batch_size=1, per_device_eval_batch_size=1)
        return {
            **options,
            "max_length": c.max_seq_length,
            "packing": c.packing,
            "packing_strategy": PACKING_STRATEGY,
            "padding_free": c.packing,
            "completion_only_loss": not c.train_on_prompt,
            "dataset_text_field": c.dataset_text_field,
            "eos_token": self.eos_token,
        }

    def _create_trainer(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None) -> Any:
        """TRL's trainer; with packing, attention per example and rows of about a batch of examples."""
        c = self.config
        if c.packing:
            self.packed_attention()
        trainer = super()._create_trainer(train_dataset, eval_dataset)
        if c.packing and self.pack_rows_to_batch:
            trainer.train_dataset = pack_to_batch(trainer.train_dataset, c.per_device_train_batch_size)
            if trainer.eval_dataset is not None:
                trainer.eval_dataset = pack_to_batch(trainer.eval_dataset, c.per_device_eval_batch_size)
        return trainer
