"""Synthetic SFT and preference data from a teacher model.

The teacher is any model :func:`largeforge.models.resolve_model` resolves — the embedded
SmolLM2 by default. Generation is batched (left padding) with a progress bar; a batch that runs
out of memory is halved and retried, down to one prompt at a time.
"""

from __future__ import annotations

from typing import Any

from largeforge.cli.output import create_progress
from largeforge.errors import ConfigError
from largeforge.models import DEFAULT_MODEL, resolve_model
from largeforge.utils.device import select_device
from largeforge.utils.logging import get_logger

logger = get_logger(__name__)


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def _load_model(ref: str, device: str, quantization: str | None) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: imported where used

    path = resolve_model(ref)
    kwargs: dict[str, Any] = {}
    if quantization in ("4bit", "8bit"):
        from transformers import BitsAndBytesConfig  # heavy: imported where used

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=quantization == "4bit", load_in_8bit=quantization == "8bit"
        )
    elif quantization is not None:
        raise ConfigError(f"quantization {quantization!r}: expected 4bit, 8bit or none")
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if not kwargs:
        model.to(select_device(device))
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class SyntheticGenerator:
    """Answers prompts with a teacher model, producing Alpaca-style SFT rows."""

    def __init__(
        self,
        teacher_model: str = DEFAULT_MODEL,
        device: str = "auto",
        quantization: str | None = None,
        max_new_tokens: int = 512,
        temperature: float = 0.7,
        seed: int = 0,
    ) -> None:
        self.teacher_model = teacher_model
        self.device, self.quantization = device, quantization
        self.max_new_tokens, self.temperature, self.seed = max_new_tokens, temperature, seed
        self._model: Any = None
        self._tokenizer: Any = None

    def _ensure_loaded(self) -> None:
        if self._model is None:
            self._model, self._tokenizer = _load_model(self.teacher_model, self.device, self.quantization)

    def _render(self, prompt: str, system_prompt: str | None) -> str:
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": prompt})
        if getattr(self._tokenizer, "chat_template", None):
            return str(self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return prompt

    def _generate(self, texts: list[str], temperature: float) -> list[str]:
        import torch  # heavy: imported where used

        inputs = self._tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = inputs.to(self._model.device)
        sampling = temperature > 0
        with torch.no_grad():
            out = self._model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=sampling,
                temperature=temperature if sampling else None,
                top_p=0.95 if sampling else None,
                pad_token_id=self._tokenizer.pad_token_id,
            )
        new = out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self._tokenizer.batch_decode(new, skip_special_tokens=True)]

    def generate_batch(
        self,
        prompts: list[str],
        batch_size: int = 4,
        *,
        system_prompt: str | None = None,
        temperature: float | None = None,
        progress: bool = True,
    ) -> list[str]:
        """Responses to ``prompts``, ``batch_size`` at a time; halves the batch on out-of-memory."""
        import torch  # heavy: imported where used

        self._ensure_loaded()
        temperature = self.temperature if temperature is None else temperature
        torch.manual_seed(self.seed)
        texts = [self._render(p, system_prompt) for p in prompts]
        results: list[str] = []
        size = max(1, batch_size)
        with create_progress(disable=not progress) as bar:
            task = bar.add_task(f"generating ({self.teacher_model})", total=len(texts))
            while len(results) < len(texts):
                chunk = texts[len(results) : len(results) + size]
                try:
                    results.extend(self._generate(chunk, temperature))
                except (RuntimeError, MemoryError) as exc:
                    if not _is_oom(exc) or size == 1:
                        raise
                    size = max(1, size // 2)
                    logger.warning("out of memory: retrying with batch size %d", size)
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                    continue
                bar.update(task, completed=len(results))
        return results

    def generate_response(self, prompt: str) -> str:
        """One response to ``prompt``."""
        return self.generate_batch([prompt], 1, progress=False)[0]

    def generate_sft_data(
        self, prompts: list[str], system_prompt: str | None = None, batch_size: int = 4
    ) -> list[dict[str, str]]:
        """Alpaca rows (``instruction``, ``input``, ``output``[, ``system``]) answering ``prompts``."""
        outputs = self.generate_batch(prompts, batch_size, system_prompt=system_prompt)
        rows = []
        for prompt, output in zip(prompts, outputs, strict=True):
            row = {"instruction": prompt, "input": "", "output": output}
            if system_prompt:
                row["system"] = system_prompt
            rows.append(row)
        return rows


class PreferenceGenerator(SyntheticGenerator):
    """Preference pairs from a teacher: chosen/rejected by judge score, else by temperature.

    Without a judge, a focused answer (temperature 0.3) is chosen and a loose one (0.9)
    rejected. With ``judge_model``, each sample is scored by the judge's mean log-likelihood of
    the response given the prompt; the best is chosen and the worst rejected.
    """

    chosen_temperature = 0.3
    rejected_temperature = 0.9

    def __init__(
        self,
        teacher_model: str = DEFAULT_MODEL,
        device: str = "auto",
        judge_model: str | None = None,
        max_new_tokens: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__(teacher_model, device, max_new_tokens=max_new_tokens, seed=seed)
        self.judge_model = judge_model
        self._judge: Any = None

    def score_response(self, prompt: str, response: str) -> float:
        """The judge's (or the teacher's) mean log-probability per token of ``response``."""
        import torch  # heavy: imported where used

        if self._judge is None:
            self._ensure_loaded()
            self._judge = (
                (self._model, self._tokenizer)
                if self.judge_model is None
                else _load_model(self.judge_model, self.device, None)
            )
        model, tokenizer = self._judge
        messages = [{"role": "user", "content": prompt}]
        prefix = (
            tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            if getattr(tokenizer, "chat_template", None)
            else prompt
        )
        prompt_ids = tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"]
        response_ids = tokenizer(response, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if response_ids.shape[1] == 0:
            return float("-inf")
        ids = torch.cat([prompt_ids, response_ids], dim=1).to(model.device)
        with torch.no_grad():
            logits = model(ids).logits[0, prompt_ids.shape[1] - 1 : -1]
        logprobs = torch.log_softmax(logits.float(), -1).gather(1, response_ids[0].to(model.device)[:, None])
        return float(logprobs.mean())

    def _samples(self, prompts: list[str], num_samples: int, batch_size: int) -> list[list[str]]:
        if self.judge_model is None:
            temps = [self.chosen_temperature, self.rejected_temperature]
        else:  # spread temperatures so the judge has distinct candidates to rank
            temps = [0.3 + 0.6 * i / max(1, num_samples - 1) for i in range(num_samples)]
        columns = []
        for i, temp in enumerate(temps):
            self.seed += i
            columns.append(self.generate_batch(prompts, batch_size, temperature=temp))
        return [list(c) for c in zip(*columns, strict=True)]

    def _pair(self, prompt: str, candidates: list[str]) -> dict[str, str] | None:
        if self.judge_model is None:
            chosen, rejected = candidates[0], candidates[-1]
        else:
            ranked = sorted(candidates, key=lambda r: self.score_response(prompt, r), reverse=True)
            chosen, rejected = ranked[0], ranked[-1]
        if not chosen or chosen.strip() == rejected.strip():
            return None
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}

    def generate_pair(self, prompt: str, num_samples: int = 2) -> dict[str, str] | None:
        """One ``prompt``/``chosen``/``rejected`` row, or ``None`` when the samples are identical."""
        return self._pair(prompt, self._samples([prompt], num_samples, 1)[0])

    def generate_preference_data(
        self, prompts: list[str], judge_model: str | None = None, num_samples: int = 2, batch_size: int = 4
    ) -> list[dict[str, str]]:
        """Preference rows for ``prompts`` (pairs whose samples came out identical are skipped)."""
        if judge_model is not None and judge_model != self.judge_model:
            self.judge_model, self._judge = judge_model, None
        rows = []
        for prompt, candidates in zip(prompts, self._samples(prompts, num_samples, batch_size), strict=True):
            pair = self._pair(prompt, candidates)
            if pair is None:
                logger.warning("skipping %r: chosen and rejected came out identical", prompt[:60])
            else:
                rows.append(pair)
        return rows
