"""What a plugin that starts a forge's services is given and returns (``register_forge_services``).

``largeforge forge --up`` starts a team in two steps, each through the launcher registered for
its role:

* ``experts``: ``launch(ExpertsLaunch)`` returns the expert servers to run; each
  :class:`ServiceSpec` says which experts it answers for.
* ``router``: ``launch(RouterLaunch)`` returns the one router to run in front of them.

The forge owns the processes (:mod:`largeforge.forge.services`: start, log into
``<workdir>/logs/<name>.log``, wait for ``GET <url>/health``, stop); a launcher only says what to
run. What it is given is the pipeline's own description of the team, so a third-party
distribution provides either role the same way largeforge-serve and largeforge-router do::

    @hookimpl
    def register_forge_services(register):
        register(ForgeService("my-experts", EXPERTS, my_expert_services))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from largeforge.config.inference import RouterConfig
    from largeforge.forge.spec import ServeSpec

Role = Literal["experts", "router"]
EXPERTS: Role = "experts"
ROUTER: Role = "router"


@dataclass(frozen=True)
class ServiceSpec:
    """One process to run: its full command line ``argv``, serving at the base ``url`` (ready
    when ``GET <url>/health`` answers 200); its output goes to ``<workdir>/logs/<name>.log``."""

    name: str
    argv: list[str]
    url: str
    #: The experts it answers for (an experts launcher's services); empty: the one called ``name``.
    serves: tuple[str, ...] = ()

    @property
    def experts(self) -> tuple[str, ...]:
        return self.serves or (self.name,)


@dataclass(frozen=True)
class ServedExpert:
    """One expert of the team, as the pipeline describes it."""

    name: str
    #: Its last stage's output: a model folder, a LoRA adapter folder (``adapter``), or a folder
    #: holding ``model.gguf`` (``quantize: {method: gguf}``).
    model: Path
    adapter: bool
    description: str = ""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpertsLaunch:
    """What the ``experts`` launcher serves."""

    experts: list[ServedExpert]
    base_model: str
    #: The pipeline's ``serve:`` settings (mode, host, base_port, backend, max_concurrency, gguf_type).
    serve: ServeSpec
    #: ``serve.backend`` with ``auto`` resolved for the base model (with adapters in ``adapters`` mode).
    resolved_backend: str


@dataclass(frozen=True)
class RouterLaunch:
    """What the ``router`` launcher puts in front of the running experts."""

    experts: list[ServedExpert]
    #: Expert name → the base URLs that serve it (from the experts' :class:`ServiceSpec`).
    endpoints: dict[str, list[str]]
    #: The pipeline's ``router.classifier`` settings.
    classifier: RouterConfig
    #: ``{"query", "expert"}`` rows the classifier trains on (:mod:`largeforge.forge.router_data`).
    training_rows: list[dict[str, str]]
    host: str
    port: int
    #: A folder for the router's own files (its config, its training rows): the pipeline's workdir.
    folder: Path
    #: The file in ``folder`` where the router stores corrections; the next forge run trains on them.
    feedback: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ForgeService:
    """A launcher registered for one role: ``launch(request)`` returns the processes to run
    (for ``experts`` an :class:`ExpertsLaunch`, for ``router`` a :class:`RouterLaunch`, which
    yields exactly one)."""

    name: str
    role: Role
    launch: Callable[[Any], list[ServiceSpec]]
