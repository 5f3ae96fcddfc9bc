"""Training configs: shared TrainingConfig, LoRAConfig, SFTConfig, DPOConfig; beyond the
spec, the preference methods users of TRL, LLaMA-Factory and axolotl expect (KTO, ORPO, CPO, SimPO)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import Meta

from largeforge.config.base import BaseConfig
from largeforge.errors import ConfigError

T = TypeVar("T", bound="TrainingConfig")

PositiveInt = Annotated[int, Meta(ge=1)]


class ModelConfig(BaseConfig):
    """Which model to load and how."""

    name: Annotated[str, Meta(min_length=1)]
    revision: str = "main"
    torch_dtype: Literal["float16", "bfloat16", "float32"] = "bfloat16"
    device_map: str = "auto"
    trust_remote_code: bool = False


class TrainingConfig(BaseConfig):
    """Hyper-parameters shared by every trainer.

    ``bf16`` defaults to true as in the spec; trainers fall back to fp32 with a warning on
    devices without native bf16 (most CPUs), where bf16 autocast is many times slower.
    """

    output_dir: Annotated[str, Meta(min_length=1)]
    num_train_epochs: Annotated[int, Meta(ge=1, le=100)] = 3
    per_device_train_batch_size: PositiveInt = 4
    per_device_eval_batch_size: PositiveInt = 4
    gradient_accumulation_steps: PositiveInt = 4
    learning_rate: Annotated[float, Meta(gt=0)] = 2e-5
    weight_decay: Annotated[float, Meta(ge=0)] = 0.01
    warmup_ratio: Annotated[float, Meta(ge=0, le=1)] = 0.1
    max_grad_norm: Annotated[float, Meta(gt=0)] = 1.0
    logging_steps: PositiveInt = 10
    save_steps: PositiveInt = 500
    eval_steps: PositiveInt = 500
    save_total_limit: PositiveInt = 3
    fp16: bool = False
    bf16: bool = True
    seed: int = 42
    # Beyond the spec: what users of TRL/axolotl expect to set.
    max_steps: Annotated[int, Meta(ge=-1)] = -1
    lr_scheduler_type: Literal[
        "linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts", "polynomial"
    ] = "linear"
    gradient_checkpointing: bool = False
    #: Where the Trainer also logs, as in transformers: ``tensorboard`` (under ``output_dir/runs/``),
    #: ``wandb``, a list of them, or ``none``.
    report_to: list[str] | str = msgspec.field(default_factory=list)
    #: Every other field of the method's TRL config (``optim``, ``lr_scheduler_kwargs``,
    #: ``neftune_noise_alpha``, …), as TRL's own parser takes it. Keys of a config that are not
    #: fields here land in it (so ``optim: adamw_torch`` is written flat, as for TrlParser); the
    #: train plugin checks them against the trainer's TRL config class (core does not import TRL)
    #: and refuses unknown ones with the valid names.
    trl_args: dict[str, Any] = msgspec.field(default_factory=dict)
    #: TRL's names for fields that LargeForge names differently (SFT: ``max_length``).
    trl_aliases: ClassVar[dict[str, str]] = {}

    def check(self) -> None:
        if self.fp16 and self.bf16:
            raise ValueError("fp16 and bf16 cannot both be true")

    @classmethod
    def from_dict(cls: type[T], data: Any, *, source: str | None = None, strict: bool = False) -> T:
        """As :meth:`BaseConfig.from_dict`, with keys that are not our fields kept in ``trl_args``."""
        return super().from_dict(split_trl_args(cls, data, source), source=source, strict=strict)

    def to_dict(self) -> dict[str, Any]:
        """As :meth:`BaseConfig.to_dict`, without ``trl_args`` when it is empty (so a config without
        pass-through fields reads, saves and hashes as before)."""
        data = super().to_dict()
        if not data.get("trl_args", True):
            del data["trl_args"]
        return data

    def flat_dict(self) -> dict[str, Any]:
        """Our fields and the TRL pass-through fields side by side, as a config file writes them."""
        data = self.to_dict()
        return {**data, **data.pop("trl_args", {})}


def split_trl_args(cls: type[TrainingConfig], data: Any, source: str | None = None) -> Any:
    """``data`` with TRL's names of our fields renamed and every other key moved to ``trl_args``
    (a ``trl_args`` mapping given explicitly is flattened first, so this is idempotent)."""
    if not isinstance(data, dict) or not isinstance(data.get("trl_args", {}), dict):
        return data
    flat = {**data.get("trl_args", {}), **{k: v for k, v in data.items() if k != "trl_args"}}
    for trl_name, ours in cls.trl_aliases.items():
        if trl_name in flat:
            if ours in flat and flat[ours] != flat[trl_name]:
                where = f"{source}: " if source else ""
                raise ConfigError(f"{where}{trl_name} (TRL's name) and {ours} are both set: keep one")
            flat[ours] = flat.pop(trl_name)
    own = set(cls.__struct_fields__)
    out = {k: v for k, v in flat.items() if k in own}
    out["trl_args"] = {k: v for k, v in flat.items() if k not in own}
    return out


class LoRAConfig(BaseConfig):
    """LoRA adapter settings. ``target_modules`` also takes ``"all-linear"``."""

    r: Annotated[int, Meta(ge=1, le=256)] = 8
    lora_alpha: PositiveInt = 16
    lora_dropout: Annotated[float, Meta(ge=0, le=1)] = 0.05
    target_modules: list[str] | str = msgspec.field(default_factory=lambda: ["q_proj", "v_proj"])
    bias: Literal["none", "all", "lora_only"] = "none"
    task_type: str = "CAUSAL_LM"


class SFTConfig(TrainingConfig):
    """Supervised fine-tuning. Loss on completions only unless ``train_on_prompt``."""

    max_seq_length: Annotated[int, Meta(ge=128)] = 2048
    packing: bool = False
    dataset_text_field: str = "text"
    train_on_prompt: bool = False
    trl_aliases: ClassVar[dict[str, str]] = {"max_length": "max_seq_length"}


class DPOConfig(TrainingConfig):
    """Direct preference optimisation."""

    beta: Annotated[float, Meta(gt=0, le=1)] = 0.1
    max_length: Annotated[int, Meta(ge=128)] = 1024
    max_prompt_length: Annotated[int, Meta(ge=64)] = 512
    loss_type: Literal["sigmoid", "hinge", "ipo"] = "sigmoid"

    def check(self) -> None:
        super().check()
        if self.max_prompt_length >= self.max_length:
            raise ValueError(
                f"max_prompt_length ({self.max_prompt_length}) must be below max_length ({self.max_length})"
            )


class KTOConfig(TrainingConfig):
    """Kahneman-Tversky optimisation on unpaired rows: one reply each, labelled desirable or not.

    The ``kto`` loss estimates its KL term from mismatched prompt/reply pairs inside a batch, so
    it needs ``per_device_train_batch_size`` of at least 2 (``apo_zero_unpaired`` does not).
    ``desirable_weight``/``undesirable_weight`` balance data with unequal shares of each label.
    """

    beta: Annotated[float, Meta(gt=0)] = 0.1
    max_length: Annotated[int, Meta(ge=128)] = 1024
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    desirable_weight: Annotated[float, Meta(gt=0)] = 1.0
    undesirable_weight: Annotated[float, Meta(gt=0)] = 1.0

    def check(self) -> None:
        super().check()
        if self.loss_type == "kto" and self.per_device_train_batch_size < 2:
            raise ValueError(
                "per_device_train_batch_size must be at least 2 for loss_type kto: its KL term pairs "
                "each prompt with another row's reply in the same batch"
            )


class ORPOConfig(TrainingConfig):
    """Odds-ratio preference optimisation: SFT loss on the chosen reply plus ``beta`` (the
    paper's lambda) times an odds-ratio term; no reference model."""

    beta: Annotated[float, Meta(gt=0)] = 0.1
    max_length: Annotated[int, Meta(ge=128)] = 1024


class CPOConfig(TrainingConfig):
    """Contrastive preference optimisation: a preference loss on the policy alone (no reference
    model) plus ``cpo_alpha`` times the SFT loss on the chosen reply."""

    beta: Annotated[float, Meta(gt=0)] = 0.1
    max_length: Annotated[int, Meta(ge=128)] = 1024
    loss_type: Literal["sigmoid", "hinge", "ipo", "simpo"] = "sigmoid"
    cpo_alpha: Annotated[float, Meta(ge=0)] = 1.0
    #: Target reward margin of ``loss_type: simpo``.
    simpo_gamma: Annotated[float, Meta(ge=0)] = 0.5
    label_smoothing: Annotated[float, Meta(ge=0, le=0.5)] = 0.0


class SimPOConfig(TrainingConfig):
    """SimPO: length-normalised log-likelihood margins with a target ``simpo_gamma``, no reference
    model (TRL's CPO with ``loss_type="simpo"``). ``beta`` 2.0 and ``cpo_alpha`` 0 (pure SimPO) follow
    the SimPO paper; a ``cpo_alpha`` above 0 adds the SFT loss on the chosen reply (CPO-SimPO)."""

    beta: Annotated[float, Meta(gt=0)] = 2.0
    simpo_gamma: Annotated[float, Meta(ge=0)] = 0.5
    cpo_alpha: Annotated[float, Meta(ge=0)] = 0.0
    max_length: Annotated[int, Meta(ge=128)] = 1024


class GRPOConfig(TrainingConfig):
    """Group relative policy optimisation: ``num_generations`` sampled completions per prompt, scored
    by the rewards named in ``reward_funcs`` (registered through ``register_rewards``; weighted by
    ``reward_weights``, TRL's), each completion's advantage its reward against its group's.

    ``format_pattern`` feeds the ``format_regex`` reward, ``reference_column`` (``answer``) the
    column ``exact_match``/``contains_answer`` compare with, ``reward_options`` any setting a
    third-party reward takes. ``per_device_train_batch_size`` counts completions, as in TRL: times
    ``gradient_accumulation_steps`` (and processes) it must be a multiple of ``num_generations``.
    ``beta`` 0 (TRL's default) loads no reference model.
    """

    reward_funcs: list[str] = msgspec.field(default_factory=list)
    reward_weights: list[float] | None = None
    format_pattern: str | None = None
    reference_column: Annotated[str, Meta(min_length=1)] = "answer"
    reward_options: dict[str, Any] = msgspec.field(default_factory=dict)
    num_generations: Annotated[int, Meta(ge=2)] = 8
    max_completion_length: PositiveInt = 256
    temperature: Annotated[float, Meta(gt=0)] = 1.0
    top_p: Annotated[float, Meta(gt=0, le=1)] = 1.0
    beta: Annotated[float, Meta(ge=0)] = 0.0
    epsilon: Annotated[float, Meta(gt=0)] = 0.2
    num_iterations: PositiveInt = 1
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    mask_truncated_completions: bool = False
    log_completions: bool = False

    def check(self) -> None:
        super().check()
        if self.reward_weights is not None and self.reward_funcs and len(self.reward_weights) != len(self.reward_funcs):
            raise ValueError(
                f"reward_weights has {len(self.reward_weights)} values for {len(self.reward_funcs)} reward_funcs: "
                "give one weight per reward"
            )
