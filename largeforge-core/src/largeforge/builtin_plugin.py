"""The core's own plugin: built-in data formats and readers, model sources, task metrics and GRPO rewards,
through the same hooks third parties use."""

from __future__ import annotations

from largeforge.data.formats import BUILTIN_FORMATS
from largeforge.data.readers import BUILTIN_READERS
from largeforge.evaluation.metrics import BUILTIN_METRICS
from largeforge.hookspecs import Register, hookimpl
from largeforge.models.embedded import EmbeddedModelSource
from largeforge.models.local import HubSource, LocalDirectorySource
from largeforge.rewards import BUILTIN_REWARDS


@hookimpl
def register_formats(register: Register) -> None:
    for fmt in BUILTIN_FORMATS:
        register(fmt())


@hookimpl
def register_readers(register: Register) -> None:
    for reader in BUILTIN_READERS:
        register(reader())


@hookimpl
def register_model_sources(register: Register) -> None:
    register(EmbeddedModelSource())
    register(LocalDirectorySource())
    register(HubSource())


@hookimpl
def register_metrics(register: Register) -> None:
    for name, metric in BUILTIN_METRICS.items():
        register(name, metric)


@hookimpl
def register_rewards(register: Register) -> None:
    for name, reward in BUILTIN_REWARDS.items():
        register(name, reward)
