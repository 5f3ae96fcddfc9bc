"""The core's own plugin: built-in data formats and readers, model sources, task metrics and GRPO rewards,
through the same hooks third parties use.

Each hook imports what it registers when the registries fill, not when the plugin loads: the plugin
loads for every command, ``largeforge --help`` included, and the data layer, the model sources and
the rewards are most of the core's import time.
"""

from __future__ import annotations

from largeforge.hookspecs import Register, hookimpl


@hookimpl
def register_formats(register: Register) -> None:
    from largeforge.data.formats import BUILTIN_FORMATS  # when the registries fill (see above)

    for fmt in BUILTIN_FORMATS:
        register(fmt())


@hookimpl
def register_readers(register: Register) -> None:
    from largeforge.data.readers import BUILTIN_READERS  # when the registries fill (see above)

    for reader in BUILTIN_READERS:
        register(reader())


@hookimpl
def register_model_sources(register: Register) -> None:
    from largeforge.models.embedded import EmbeddedModelSource  # when the registries fill (see above)
    from largeforge.models.local import HubSource, LocalDirectorySource

    register(EmbeddedModelSource())
    register(LocalDirectorySource())
    register(HubSource())


@hookimpl
def register_metrics(register: Register) -> None:
    from largeforge.evaluation.metrics import BUILTIN_METRICS  # when the registries fill (see above)

    for name, metric in BUILTIN_METRICS.items():
        register(name, metric)


@hookimpl
def register_rewards(register: Register) -> None:
    from largeforge.rewards import BUILTIN_REWARDS  # when the registries fill (see above)

    for name, reward in BUILTIN_REWARDS.items():
        register(name, reward)
