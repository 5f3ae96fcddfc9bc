"""Direct preference optimisation over TRL's ``DPOTrainer``.

Loss types sigmoid, hinge and ipo; ``beta``; an optional separate reference model (otherwise TRL
uses the model itself with the LoRA adapter disabled, or a frozen copy for full fine-tuning).
TRL tokenizes and collates preference pairs; there is no collator here. TRL 1.x dropped
``max_prompt_length``, so prompts are cut here, right after TRL tokenizes them: a prompt longer
than ``max_prompt_length`` tokens keeps its last ones (the question sits at the end of a long
context), and ``max_length`` then bounds prompt plus reply in TRL's collator. (Left alone, TRL
would drop every pair whose prompt alone fills ``max_length``.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from largeforge.config import DPOConfig
from largeforge.utils.logging import get_logger
from largeforge_train.preflight import preflight_dpo
from largeforge_train.reference import ReferenceModelTrainer
from largeforge_train.sft_data import check_preference_dataset

if TYPE_CHECKING:
    import datasets

logger = get_logger(__name__)


class DPOTrainer(ReferenceModelTrainer):
    """Preference training on ``prompt``/``chosen``/``rejected`` rows.

    >>> trainer = DPOTrainer("./sft-output", DPOConfig(output_dir="dpo"), LoRAConfig(r=16))
    >>> result = trainer.train(DatasetFactory.load("pairs.json"))
    """

    method = "dpo"
    data_kind = "preference"
    config_class = DPOConfig
    config: DPOConfig
    trl_config_class = "trl.DPOConfig"

    def preflight(self, train_dataset: datasets.Dataset) -> datasets.Dataset:
        """Check the columns and the rendered pairs before the model loads."""
        check_preference_dataset(train_dataset)
        preflight_dpo(train_dataset, self.tokenizer, max_length=self.config.max_length)
        return train_dataset

    def trl_options(self) -> dict[str, Any]:
        """The fields of TRL's ``DPOConfig`` that follow from ours."""
        c = self.config
        return {"beta": c.beta, "loss_type": [c.loss_type], "max_length": c.max_length}

    def trl_trainer(self) -> Any:
        """TRL's ``DPOTrainer``, cutting long prompts right after it tokenizes them."""
        from trl import DPOTrainer as TRLDPOTrainer  # heavy: only when a trainer runs

        max_prompt_length = self.config.max_prompt_length

        class PromptCuttingDPOTrainer(TRLDPOTrainer):  # type: ignore[misc]
            def _prepare_dataset(self, dataset: Any, processing_class: Any, args: Any, dataset_name: str) -> Any:
                # TRL tokenizes, then drops the pairs whose prompt fills max_length: cut the prompts
                # in between. (The config keeps max_prompt_length below max_length, so none is dropped.)
                max_length, args.max_length = args.max_length, None
                try:
                    dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
                finally:
                    args.max_length = max_length
                return truncate_prompts(dataset, max_prompt_length)

        return PromptCuttingDPOTrainer


def truncate_prompts(dataset: datasets.Dataset, max_prompt_length: int) -> datasets.Dataset:
    """Keep the last ``max_prompt_length`` tokens of every tokenized prompt (``prompt_ids``)."""
    if "prompt_ids" not in dataset.column_names:
        return dataset
    lengths = [len(ids) for ids in dataset["prompt_ids"]]
    cut = sum(length > max_prompt_length for length in lengths)
    if not cut:
        return dataset
    logger.info(
        "max_prompt_length %d: keeping the last tokens of %d of %d prompts", max_prompt_length, cut, len(lengths)
    )
    return dataset.map(lambda row: {"prompt_ids": row["prompt_ids"][-max_prompt_length:]}, desc="Truncating prompts")
