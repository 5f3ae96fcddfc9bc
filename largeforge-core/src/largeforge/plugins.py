"""The plugin manager: discovers plugins through entry points and fills the registries.

* :func:`get_plugin_manager` returns the process-wide manager (entry points loaded once).
* :func:`make_plugin_manager` builds a fresh one; tests pass ``load_entrypoints=False`` and
  ``pm.register(obj, name=...)`` their own plugins without installing anything.

Loading is isolated: a plugin that fails to import or to register is recorded in
``pm.failures``, reported once on stderr and skipped, unless ``LARGEFORGE_STRICT_PLUGINS=1``
makes it fatal. ``LARGEFORGE_LOAD_PLUGINS=a,b`` loads only the named entry points.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pluggy

from largeforge import hookspecs
from largeforge.errors import PluginError
from largeforge.registry import Registry
from largeforge.version import __version__

if TYPE_CHECKING:
    from largeforge.contracts import DataFormat, DataReader, ModelSource
    from largeforge.forge.launchers import ForgeService

ENTRY_POINT_GROUP = "largeforge"
CORE_PLUGIN_NAME = "core"
#: The core's own plugin, named by its import path (as datasette's ``DEFAULT_PLUGINS``): the manager
#: never imports a feature module itself, so the formats, readers and rewards that use the registries
#: can import this module without a circle.
BUILTIN_PLUGIN = "largeforge.builtin_plugin"
STRICT_ENV = "LARGEFORGE_STRICT_PLUGINS"
ONLY_ENV = "LARGEFORGE_LOAD_PLUGINS"

#: hook name → (registry attribute, how the register callable's arguments map to name/value)
REGISTER_HOOKS = {
    "register_formats": "formats",
    "register_readers": "readers",
    "register_trainers": "trainers",
    "register_backends": "backends",
    "register_classifiers": "classifiers",
    "register_quantizers": "quantizers",
    "register_model_sources": "model_sources",
    "register_metrics": "metrics",
    "register_evaluators": "evaluators",
    "register_rewards": "rewards",
    "register_forge_services": "forge_services",
}


@dataclass
class PluginFailure:
    """A plugin that could not be loaded or could not register."""

    name: str
    distribution: str | None
    version: str | None
    stage: str  # "import" or the hook that failed
    error: str


@dataclass
class PluginInfo:
    """What ``largeforge plugins`` shows for one loaded plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: list[str] = field(default_factory=list)


class Registries:
    """The typed registries that ``register_*`` hooks fill."""

    def __init__(self) -> None:
        self.formats: Registry[DataFormat] = Registry("data format")
        self.readers: Registry[DataReader] = Registry("data reader")
        self.trainers: Registry[Callable[..., Any]] = Registry("trainer")
        self.backends: Registry[type] = Registry("inference backend")
        self.classifiers: Registry[Callable[..., Any]] = Registry("classifier")
        self.quantizers: Registry[type] = Registry("quantizer")
        self.model_sources: Registry[ModelSource] = Registry("model source")
        self.metrics: Registry[Callable[[str, str], float]] = Registry("metric")
        self.evaluators: Registry[Callable[..., Any]] = Registry("evaluator")
        self.rewards: Registry[Callable[..., Any]] = Registry("reward")
        self.forge_services: Registry[ForgeService] = Registry("forge service")

    def all(self) -> dict[str, Registry[Any]]:
        return {attr: getattr(self, attr) for attr in REGISTER_HOOKS.values()}


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus LargeForge's registries and a record of plugin provenance."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.distributions: dict[str, tuple[str | None, str | None]] = {}

    @cached_property
    def registries(self) -> Registries:
        """Registries filled by calling every ``register_*`` hook once, plugin by plugin."""
        registries = Registries()
        for hook_name, attr in REGISTER_HOOKS.items():
            registry = getattr(registries, attr)
            for impl in getattr(self.hook, hook_name).get_hookimpls():
                self._call_register(impl, hook_name, registry)
        return registries

    def _call_register(self, impl: pluggy.HookImpl, hook_name: str, registry: Registry[Any]) -> None:
        provider = impl.plugin_name

        def register(*args: Any) -> None:
            if len(args) == 1:  # register(obj): the object carries its name
                name, value = getattr(args[0], "name", None), args[0]
            elif len(args) == 2:
                name, value = args
            else:
                raise PluginError(f"{hook_name}: register() takes (obj) or (name, obj)")
            registry.add(str(name or ""), value, provider)

        try:
            impl.function(register=register)
        except Exception as exc:  # isolate: drop this plugin's half-registration
            registry.remove_provider(provider)
            self._fail(provider, hook_name, exc)

    def _fail(self, name: str, stage: str, exc: BaseException) -> None:
        dist, version = self.distributions.get(name, (None, None))
        failure = PluginFailure(name, dist, version, stage, f"{type(exc).__name__}: {exc}")
        self.failures.append(failure)
        where = f" (distribution {dist} {version})" if dist else ""
        message = f"plugin {name!r}{where} failed in {stage}: {failure.error}"
        if os.environ.get(STRICT_ENV, "") not in ("", "0"):
            raise PluginError(message) from exc
        print(f"warning: {message}; skipped (set {STRICT_ENV}=1 to make this fatal)", file=sys.stderr)

    def load_entrypoints(self) -> None:
        """Import every ``largeforge`` entry point, isolating failures."""
        only = {n.strip() for n in os.environ.get(ONLY_ENV, "").split(",") if n.strip()}
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if only and ep.name not in only:
                continue
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            self.distributions[ep.name] = (dist.metadata["Name"] if dist else None, dist.version if dist else None)
            try:
                plugin = ep.load()
                self.register(plugin, name=ep.name)
            except Exception as exc:
                self._fail(ep.name, "import", exc)

    def plugin_infos(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and implemented hooks."""
        infos = []
        for name, plugin in self.list_name_plugin():
            if plugin is None or name is None:
                continue
            dist, version = self.distributions.get(name, (None, None))
            hooks = sorted(h.name for h in self.get_hookcallers(plugin) or [])
            infos.append(PluginInfo(name, dist, version, hooks))
        return sorted(infos, key=lambda i: (i.name != CORE_PLUGIN_NAME, i.name))


def make_plugin_manager(*, load_entrypoints: bool = True, builtins: bool = True) -> PluginManager:
    """A new plugin manager. Tests use ``load_entrypoints=False`` and register their own."""
    pm = PluginManager()
    if builtins:
        pm.register(importlib.import_module(BUILTIN_PLUGIN), name=CORE_PLUGIN_NAME)
        pm.distributions[CORE_PLUGIN_NAME] = ("largeforge-core", __version__)
    if load_entrypoints:
        pm.load_entrypoints()
    return pm


_PM: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, with every installed plugin loaded (cached)."""
    global _PM
    if _PM is None:
        _PM = make_plugin_manager()
    return _PM


def set_plugin_manager(pm: PluginManager | None) -> None:
    """Replace (or with ``None`` reset) the process-wide manager; for tests and embedding."""
    global _PM
    _PM = pm


def registries() -> Registries:
    """Shortcut for ``get_plugin_manager().registries``."""
    return get_plugin_manager().registries
