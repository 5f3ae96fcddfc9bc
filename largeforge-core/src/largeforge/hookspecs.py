"""The hooks a LargeForge plugin can implement.

Every ``register_*`` hook receives a ``register`` callable; the core owns the bookkeeping
(which plugin provided what, duplicate detection), so a plugin only says what it offers::

    from largeforge import hookimpl

    @hookimpl
    def register_formats(register):
        register(MyFormat())

A plugin is any module or object with such functions, announced through the ``largeforge``
entry-point group of its distribution::

    [project.entry-points.largeforge]
    myplugin = "my_package.plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

PROJECT_NAME = "largeforge"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]


@hookspec
def register_formats(register: Register) -> None:
    """Register data formats: ``register(format)`` with a :class:`largeforge.contracts.DataFormat`."""


@hookspec
def register_readers(register: Register) -> None:
    """Register data readers: ``register(reader)`` with a :class:`largeforge.contracts.DataReader`.

    A data location (file, folder, hub id) goes to the first registered reader that claims it;
    the core's own (JSON, Parquet, CSV, Arrow, ``datasets`` folders, hub ids) come first."""


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers: ``register(name, factory)``; ``factory(model, config, **kw)`` returns a
    :class:`largeforge.contracts.Trainer`."""


@hookspec
def register_backends(register: Register) -> None:
    """Register inference engines: ``register(name, engine_class)`` with a subclass of
    :class:`largeforge.contracts.InferenceEngine`."""


@hookspec
def register_classifiers(register: Register) -> None:
    """Register router classifiers: ``register(name, factory)`` returning a
    :class:`largeforge.contracts.Classifier`."""


@hookspec
def register_quantizers(register: Register) -> None:
    """Register quantizers: ``register(name, quantizer_class)`` implementing
    :class:`largeforge.contracts.Quantizer`."""


@hookspec
def register_model_sources(register: Register) -> None:
    """Register model sources: ``register(source)`` with a :class:`largeforge.contracts.ModelSource`.

    Sources are asked in registration order (built-in aliases, then local paths, then the
    Hugging Face cache); the first whose ``can_resolve`` says yes resolves the reference."""


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics: ``register(name, metric)`` where ``metric(prediction, reference)``
    returns a score in [0, 1] for one generated answer against its reference (higher is better),
    or ``register(metric)`` with an object that has a ``name``. The eval stage averages it over
    the held-out rows; see :class:`largeforge.contracts.Metric`."""


@hookspec
def register_evaluators(register: Register) -> None:
    """Register evaluators: ``register(name, factory)``; ``factory(model)`` returns a
    :class:`largeforge.contracts.Evaluator` that scores ``model`` on held-out examples (loss,
    perplexity, generated answers). The forge's eval stage and ``largeforge eval`` call it."""


@hookspec
def register_rewards(register: Register) -> None:
    """Register GRPO reward functions: ``register(name, reward)`` where ``reward(completions,
    **kwargs)`` returns one score (or ``None``: not applicable) per completion, TRL's reward-function
    signature; see :class:`largeforge.contracts.Reward`. ``reward_funcs: [name, ...]`` in a GRPO
    config picks them; dataset columns and config options reach them as keyword arguments."""


@hookspec
def register_forge_services(register: Register) -> None:
    """Register what ``largeforge forge --up`` runs: ``register(service)`` with a
    :class:`largeforge.forge.launchers.ForgeService`: a ``name``, a ``role`` (``"experts"``: the
    team's expert servers; ``"router"``: the router in front of them) and ``launch(request)``,
    which returns the :class:`~largeforge.forge.launchers.ServiceSpec` processes to run. The forge
    starts them, logs them into ``<workdir>/logs`` and waits for their ``/health``; the plugin only
    says what to run. With several launchers for a role, ``serve.launcher`` / ``router.launcher``
    in the pipeline picks one."""


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands or command groups to the ``largeforge`` Typer application."""
