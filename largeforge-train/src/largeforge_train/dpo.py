"""Direct preference optimisation over TRL's ``DPOTrainer`` (spec 3.9–3.10).

Loss types sigmoid, hinge and ipo; ``beta``; an optional separate reference model (otherwise TRL
uses the model itself with the LoRA adapter disabled, or a frozen copy for full fine-tuning).
TRL tokenizes and collates preference pairs; there is no collator here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.config import DPOConfig, LoRAConfig
from largeforge_train.base import BaseTrainer
from largeforge_train.preflight import preflight_dpo
from largeforge_train.sft_data import check_preference_dataset

if TYPE_CHECKING:
    import datasets


class DPOTrainer(BaseTrainer):
    """Preference training on ``prompt``/``chosen``/``rejected`` rows.

    >>> trainer = DPOTrainer("./sft-output", DPOConfig(output_dir="dpo"), LoRAConfig(r=16))
    >>> result = trainer.train(DatasetFactory.load("pairs.json"))
    """

    method = "dpo"
    config: DPOConfig

    def __init__(self, model_name: str, config: DPOConfig, lora_config: LoRAConfig | None = None,
                 ref_model: str | None = None, **options: Any) -> None:
        super().__init__(model_name, config, lora_config, **options)
        self.ref_model_name = ref_model

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check the columns and the rendered pairs before the model loads."""
        check_preference_dataset(train_dataset)
        preflight_dpo(train_dataset, self.tokenizer, max_length=self.config.max_length)
        return train_dataset

    def _load_reference_model(self) -> Any:
        """The separate reference model, when one was given."""
        if self.ref_model_name is None:
            return None
        from transformers import AutoModelForCausalLM

        from largeforge_train.lora import is_adapter_dir, load_merged

        if is_adapter_dir(self.ref_model_name):
            return load_merged(self.ref_model_name, torch_dtype=self.dtype)
        return AutoModelForCausalLM.from_pretrained(self._resolve(self.ref_model_name), dtype=self.dtype)

    def _get_training_args(self, has_eval: bool = False) -> Any:
        """TRL's ``DPOConfig`` from ours."""
        from trl import DPOConfig as TRLDPOConfig

        c = self.config
        return TRLDPOConfig(**self.common_args(has_eval), beta=c.beta, loss_type=[c.loss_type],
                            max_length=c.max_length)

    def _create_trainer(self, train_dataset: datasets.Dataset, eval_dataset: datasets.Dataset | None) -> Any:
        from trl import DPOTrainer as TRLDPOTrainer

        return TRLDPOTrainer(model=self._model, ref_model=self._load_reference_model(),
                             args=self._get_training_args(eval_dataset is not None),
                             train_dataset=train_dataset, eval_dataset=eval_dataset,
                             processing_class=self.tokenizer, peft_config=self.peft_config(),
                             callbacks=self.callbacks(eval_dataset is not None))
