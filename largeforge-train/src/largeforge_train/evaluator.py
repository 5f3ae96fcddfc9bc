"""The ``transformers`` evaluator (``register_evaluators``): scores a model on held-out examples.

For each example it measures the loss of the reference reply given its prompt, on the reply's
tokens only (as SFT trains with ``completion_only_loss``), and greedily generates an answer that
the task metrics score (prompts in left-padded batches of ``GENERATION_BATCH``).
The prompt is rendered with the model's chat template, as in training.
Rows whose prompt and reference do not fit the context are skipped and counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from largeforge.contracts import EvalExample, ModelEvaluation
from largeforge.models import resolve_model
from largeforge.utils.logging import get_logger
from largeforge_train.lora import adapter_base_model, is_adapter_dir, load_merged
from largeforge_train.preflight import _common_prefix, _tokenized

logger = get_logger(__name__)
#: Scored rows kept with their answers in the result (the report's sample generations).
SAMPLES = 20
#: Prompts generated for together: on CPU a batch costs little more than one row.
GENERATION_BATCH = 8
#: Context assumed when neither the model config nor the tokenizer states one.
DEFAULT_CONTEXT = 2048


class TransformersEvaluator:
    """Evaluate ``model`` (alias, directory, quantized checkpoint, or LoRA adapter merged into its
    base) on CPU or the first GPU, in fp32 on CPU."""

    def __init__(self, model: str) -> None:
        self.model_ref = model
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> tuple[Any, Any]:
        if self._model is None:
            import torch  # heavy: imported where used
            from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: imported where used

            device = "cuda" if torch.cuda.is_available() else "cpu"
            if is_adapter_dir(self.model_ref):
                model = load_merged(self.model_ref, torch_dtype=torch.float32)
                source = Path(self.model_ref)
                if not (source / "tokenizer_config.json").is_file():
                    source = resolve_model(adapter_base_model(source))
            elif (gguf := _gguf_file(self.model_ref)) is not None:
                # A GGUF export (quantize: {method: gguf}): transformers dequantizes it, so the
                # scores are those of the quantized weights (llama.cpp's kernels aside).
                dequantized: Any = AutoModelForCausalLM.from_pretrained(
                    gguf.parent, gguf_file=gguf.name, dtype=torch.float32
                )
                self._model = dequantized.to(device).eval()
                self._tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
                return self._model, self._tokenizer
            else:
                source = resolve_model(self.model_ref)
                model = AutoModelForCausalLM.from_pretrained(
                    source, dtype="auto" if device == "cuda" else torch.float32
                )
            self._model = model.to(device).eval()
            self._tokenizer = AutoTokenizer.from_pretrained(source)
        return self._model, self._tokenizer

    def context_length(self) -> int:
        """The model's context: ``max_position_embeddings`` (or the tokenizer's limit if lower)."""
        model, tokenizer = self._load()
        limits = [getattr(model.config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
        # Tokenizers without a limit report a huge sentinel (int(1e30)).
        sane = [int(v) for v in limits if isinstance(v, int) and 0 < v < 10**7]
        return min(sane) if sane else DEFAULT_CONTEXT

    def evaluate(
        self,
        examples: Sequence[EvalExample],
        metrics: Mapping[str, Callable[[str, str], float]],
        *,
        max_new_tokens: int = 64,
        max_length: int | None = None,
    ) -> ModelEvaluation:
        """Loss and perplexity on the references, ``metrics`` averaged over greedy answers."""
        import torch  # heavy: imported where used

        start = time.perf_counter()
        model, tokenizer = self._load()
        context = min(max_length, self.context_length()) if max_length else self.context_length()
        nll, tokens, skipped = 0.0, 0, 0
        totals = dict.fromkeys(metrics, 0.0)
        samples: list[dict[str, Any]] = []
        fitting: list[tuple[int, list[int], int, float]] = []  # row, prompt ids, reply tokens, loss
        for index, example in enumerate(examples):
            reply = [{"role": "assistant", "content": example.reference}]
            prompt_ids, full_ids = _tokenized(tokenizer, example.prompt, reply, None)
            begin = _common_prefix(prompt_ids, full_ids)
            if len(full_ids) > context or begin >= len(full_ids):
                skipped += 1
                continue
            input_ids = torch.tensor([full_ids], device=model.device)
            labels = input_ids.clone()
            labels[0, :begin] = -100
            with torch.no_grad():
                loss = float(model(input_ids=input_ids, labels=labels).loss)
            count = len(full_ids) - begin  # the reply's tokens, each predicted from the one before
            nll += loss * count
            tokens += count
            fitting.append((index, prompt_ids, count, loss))
        per_row: list[dict[str, Any]] = []
        for first in range(0, len(fitting), GENERATION_BATCH):
            batch = fitting[first : first + GENERATION_BATCH]
            answers = self._generate(model, tokenizer, [ids for _, ids, _, _ in batch], max_new_tokens, context)
            for (index, _, count, loss), answer in zip(batch, answers, strict=True):
                example = examples[index]
                scores = {name: float(metric(answer, example.reference)) for name, metric in metrics.items()}
                for name, value in scores.items():
                    totals[name] += value
                per_row.append({"row": index, "tokens": count, "loss": round(loss, 5), "scores": scores})
                if len(samples) < SAMPLES:
                    samples.append(
                        {
                            "prompt": example.prompt[-1]["content"] if example.prompt else "",
                            "reference": example.reference,
                            "prediction": answer,
                            "loss": round(loss, 4),
                            "scores": {k: round(v, 4) for k, v in scores.items()},
                        }
                    )
        scored = len(per_row)
        mean_loss = nll / tokens if tokens else None
        return ModelEvaluation(
            model=self.model_ref,
            rows=scored,
            skipped=skipped,
            max_length=context,
            loss=round(mean_loss, 4) if mean_loss is not None else None,
            perplexity=round(math.exp(mean_loss), 4) if mean_loss is not None and mean_loss < 700 else None,
            metrics={k: round(v / scored, 4) for k, v in totals.items()} if scored else {},
            samples=samples,
            seconds=round(time.perf_counter() - start, 1),
            per_row=per_row,
        )

    @staticmethod
    def _generate(model: Any, tokenizer: Any, prompts: list[list[int]], max_new_tokens: int, context: int) -> list[str]:
        """Greedy answers to a batch of prompts, left-padded (positions follow the attention mask)."""
        import torch  # heavy: imported where used

        width = max(len(ids) for ids in prompts)
        budget = min(max_new_tokens, context - width)
        if budget <= 0:
            return [""] * len(prompts)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=model.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts], device=model.device)
        with torch.no_grad():
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=budget,
                do_sample=False,
                pad_token_id=pad,
            )
        return [str(tokenizer.decode(row[width:], skip_special_tokens=True)).strip() for row in output]


def _gguf_file(model_ref: str) -> Path | None:
    """The GGUF file ``model_ref`` names: a ``.gguf`` file, or a directory holding only ``model.gguf``."""
    path = Path(model_ref)
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir() and (path / "model.gguf").is_file() and not (path / "config.json").is_file():
        return path / "model.gguf"
    return None
