"""Inference and routing configs (spec 1.8 and the ExpertConfig of spec 5.4)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from largeforge.config.base import BaseConfig

Probability = Annotated[float, Meta(ge=0, le=1)]


class GenerationConfig(BaseConfig):
    """Sampling settings of one generation request."""

    max_tokens: Annotated[int, Meta(ge=1, le=32768)] = 256
    temperature: Annotated[float, Meta(ge=0, le=2)] = 0.7
    top_p: Annotated[float, Meta(gt=0, le=1)] = 0.9
    top_k: Annotated[int, Meta(ge=0)] = 50
    repetition_penalty: Annotated[float, Meta(ge=1)] = 1.0
    stop: list[str] | None = None
    stream: bool = False
    seed: int | None = None


class InferenceConfig(BaseConfig):
    """How an inference server loads and serves a model."""

    model_path: str | None = None
    backend: Literal["auto", "vllm", "transformers", "llamacpp"] = "auto"
    #: Loopback by default, as llama.cpp and Ollama do: exposing the server is an explicit choice.
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    max_model_len: Annotated[int, Meta(ge=128)] = 4096
    gpu_memory_utilization: Annotated[float, Meta(gt=0, le=1)] = 0.9
    tensor_parallel_size: Annotated[int, Meta(ge=1)] = 1
    pipeline_parallel_size: Annotated[int, Meta(ge=1)] = 1
    quantization: Literal["awq", "gptq"] | None = None
    #: llamacpp: the GGUF type a model that is not a GGUF file is converted to, once (cached by
    #: content). f16 keeps the model's answers; q8_0 halves the memory (SmolLM2's first token can flip).
    gguf_type: str = "f16"


#: The threshold ``auto`` starts from and never exceeds (the spec's fixed default).
AUTO_THRESHOLD_CEILING = 0.6


class RouterConfig(BaseConfig):
    """How the router classifies queries and what it does when unsure.

    ``confidence_threshold``: below it a pick goes to ``fallback_expert``. A number is used as
    given; ``"auto"`` (default) is the threshold the classifier fitted on its held-out
    cross-validation folds (``fitted_threshold``: the lowest one up to 0.6 with the best routed
    accuracy there, i.e. the fallback fires only where it rescued held-out queries), or 0.6 for a
    classifier that fitted none (keywords; too few queries).
    """

    classifier_type: Literal["keyword", "neural", "hybrid"] = "hybrid"
    confidence_threshold: Probability | Literal["auto"] = "auto"
    fallback_expert: str = "general"
    keyword_weight: Probability = 0.3
    neural_weight: Probability = 0.7

    def threshold_for(self, classifier: object = None) -> float:
        """The confidence threshold in force for ``classifier`` (see the class docstring)."""
        if self.confidence_threshold != "auto":
            return float(self.confidence_threshold)
        fitted = getattr(classifier, "fitted_threshold", None)
        return float(fitted) if fitted is not None else AUTO_THRESHOLD_CEILING

    def check(self) -> None:
        if not math.isclose(self.keyword_weight + self.neural_weight, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"keyword_weight + neural_weight must be 1.0, got "
                f"{self.keyword_weight} + {self.neural_weight} = "
                f"{self.keyword_weight + self.neural_weight:g}"
            )


ExpertName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$", max_length=64)]


class ExpertConfig(BaseConfig):
    """One expert behind the router (spec 5.4).

    ``endpoints`` lists OpenAI-compatible base URLs (replicas); ``endpoint`` is the spec's
    single-URL form and is folded into ``endpoints``. An expert without endpoints can still be
    classified to (``largeforge router eval``) but not served.
    """

    name: ExpertName
    model_path: str | None = None
    description: str = ""
    domains: list[str] = msgspec.field(default_factory=list)
    keywords: list[str] = msgspec.field(default_factory=list)
    endpoint: str | None = None
    endpoints: list[str] = msgspec.field(default_factory=list)
    priority: int = 0
    max_tokens: Annotated[int, Meta(ge=1, le=32768)] = 2048
    temperature: Annotated[float, Meta(ge=0, le=2)] = 0.7
    enabled: bool = True
    weight: Annotated[float, Meta(gt=0)] = 1.0

    def check(self) -> None:
        for url in self.all_endpoints:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"endpoint {url!r} must start with http:// or https://")

    @property
    def all_endpoints(self) -> list[str]:
        """Every replica URL, the single ``endpoint`` first, without duplicates."""
        urls = ([self.endpoint] if self.endpoint else []) + self.endpoints
        return list(dict.fromkeys(u.rstrip("/") for u in urls))
