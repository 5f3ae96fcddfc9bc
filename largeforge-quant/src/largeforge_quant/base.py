"""What AWQ and GPTQ share: input checks up front, loading, llm-compressor's ``oneshot``, saving.

The output is a compressed-tensors checkpoint (``pack-quantized`` int weights with group scales),
which transformers and vLLM both load; ``quant_config.json`` beside it records how it was made.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from largeforge.errors import DataError, LargeForgeError
from largeforge.utils.io import save_json
from largeforge.utils.logging import get_logger, timed
from largeforge_quant.config import QuantizationConfig
from largeforge_quant.loading import QUANT_CONFIG_FILE, load_quantized

logger = get_logger(__name__)

Progress = Callable[[str], None]


class OutputExistsError(LargeForgeError):
    """The output directory already exists (pass ``overwrite=True`` / ``--overwrite``)."""


def check_output_path(output_path: str | Path, overwrite: bool = False) -> Path:
    """``output_path`` as a Path; an existing non-empty directory is an error unless ``overwrite``."""
    path = Path(output_path).expanduser()
    if path.exists() and not overwrite and (not path.is_dir() or any(path.iterdir())):
        raise OutputExistsError(f"output directory {path} already exists: choose another path or pass --overwrite")
    return path


def check_calibration_data(calibration_data: list[str] | None) -> list[str]:
    """The non-blank texts of ``calibration_data``; none at all is an error."""
    texts = [t for t in calibration_data or [] if isinstance(t, str) and t.strip()]
    if not texts:
        raise DataError("calibration data is empty: give at least one non-blank text (--calibration FILE)")
    return texts


def load_model_for_quantization(model_path: str | Path) -> tuple[Any, Any]:
    """Model and tokenizer: fp32 on CPU (this CPU has no fast bf16), the checkpoint's dtype on GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype: Any = "auto" if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    return model, tokenizer


class LLMCompressorQuantizer:
    """Base of the llm-compressor quantizers: ``cls(model_path, bits=4, **options)``.

    ``options`` are :class:`QuantizationConfig` fields (``group_size``, ``symmetric``,
    ``damp_percent``...) or ``config=`` a whole config. The model reference is resolved at
    construction (an unknown model fails there, before anything is loaded).
    """

    method: ClassVar[str]

    def __init__(
        self,
        model_path: str | Path,
        bits: int | None = None,
        *,
        config: QuantizationConfig | None = None,
        **options: Any,
    ) -> None:
        from largeforge.models import resolve_model

        base = config or QuantizationConfig(method=self.method)  # type: ignore[arg-type]
        self.config = base.merged(method=self.method, bits=bits, **options)
        self.model_ref = str(model_path)
        self.model_path = resolve_model(model_path)
        self._group_size: int | None = None

    @property
    def group_size(self) -> int:
        """The group size this run uses, checked against the model's layer widths (cached)."""
        if self._group_size is None:
            from largeforge_quant.layers import quantized_layer_widths, resolve_group_size

            widths = quantized_layer_widths(self.model_path, self.config.ignore)
            self._group_size = resolve_group_size(widths, self.config.group_size)
        return self._group_size

    def weight_args(self) -> Any:
        """compressed-tensors ``QuantizationArgs`` of the weights (int, per group or channel)."""
        from compressed_tensors.quantization import QuantizationArgs

        group = self.group_size
        return QuantizationArgs(
            num_bits=self.config.bits,
            type="int",
            symmetric=self.config.symmetric,
            strategy="channel" if group == -1 else "group",
            group_size=None if group == -1 else group,
        )

    def scheme(self) -> dict[str, Any]:
        """``config_groups`` for a llm-compressor modifier: every Linear but the ignored ones."""
        from compressed_tensors.quantization import QuantizationScheme

        return {"group_0": QuantizationScheme(targets=["Linear"], weights=self.weight_args())}

    def build_recipe(self) -> list[Any]:
        """The llm-compressor modifiers of this method."""
        raise NotImplementedError

    def run_oneshot(self, model: Any, tokenizer: Any, dataset: Any) -> None:
        """Calibrate and quantize ``model`` in place (subclasses wrap it when they must)."""
        from llmcompressor import oneshot

        oneshot(
            model=model,
            processor=tokenizer,
            dataset=dataset,
            recipe=self.build_recipe(),
            max_seq_length=self.config.seq_length,
            num_calibration_samples=len(dataset),
            shuffle_calibration_samples=False,
        )

    def check_ready(self, output_path: str | Path, overwrite: bool = False) -> Path:
        """The cheap checks, before any heavy work: the output path is free and the group size
        fits every quantized layer of the model. Returns the output path."""
        output = check_output_path(output_path, overwrite)
        _ = self.group_size
        return output

    def quantize(
        self,
        calibration_data: list[str],
        output_path: str | Path,
        *,
        overwrite: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Quantize with ``calibration_data`` into ``output_path`` and return that path.

        The model is written to a sibling ``.partial`` directory and moved into place at the
        end, so an interrupted run never leaves a half-written model at ``output_path``.
        """
        texts = check_calibration_data(calibration_data)
        output = self.check_ready(output_path, overwrite)
        say = progress or (lambda _msg: None)
        from largeforge_quant.calibration import prepare_calibration_dataset
        from largeforge_quant.llmc_logging import route_llmcompressor_logs

        route_llmcompressor_logs()

        start = time.perf_counter()
        say(f"loading {self.model_ref}")
        model, tokenizer = load_model_for_quantization(self.model_path)
        dataset = prepare_calibration_dataset(texts, tokenizer, self.config.seq_length)
        say(f"calibrating and quantizing ({self.config.label}, {len(dataset)} samples)")
        with timed(logger, f"{self.method} quantization"):
            self.run_oneshot(model, tokenizer, dataset)
        say(f"saving to {output}")
        partial = output.with_name(output.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial, save_compressed=True)
        tokenizer.save_pretrained(partial)
        save_json(self.describe(len(dataset), time.perf_counter() - start), partial / QUANT_CONFIG_FILE)
        if output.exists():
            shutil.rmtree(output)
        partial.rename(output)
        return output

    def describe(self, num_samples: int, seconds: float) -> dict[str, Any]:
        """What ``quant_config.json`` records about this run."""
        import llmcompressor

        return {
            "quant_method": self.method,
            "bits": self.config.bits,
            "group_size": self.group_size,
            "symmetric": self.config.symmetric,
            **self.method_fields(),
            "format": "compressed-tensors",
            "engine": f"llmcompressor {llmcompressor.__version__}",
            "base_model": self.model_ref,
            "num_calibration_samples": num_samples,
            "seq_length": self.config.seq_length,
            "ignore": self.config.ignore,
            "seconds": round(seconds, 1),
        }

    def method_fields(self) -> dict[str, Any]:
        """Method-specific parameters recorded in ``quant_config.json``."""
        return {}

    @staticmethod
    def load_quantized(path: str | Path) -> Any:
        """Load a quantized model with transformers (compressed-tensors, CPU or GPU)."""
        return load_quantized(path)
