"""Entry point of the router plugin: its classifiers, the ``largeforge router`` commands and the
forge's router.

Kept light: nothing heavy (torch, sentence-transformers, litestar) is imported here.
"""

from __future__ import annotations

from typing import Any

import typer

from largeforge import hookimpl


@hookimpl
def register_classifiers(register: Any) -> None:
    from largeforge_router.classifiers.factory import FACTORIES  # classifiers bring numpy: when registries fill

    for name, factory in FACTORIES.items():
        register(name, factory)


@hookimpl
def register_forge_services(register: Any) -> None:
    from largeforge_router.forge_service import SERVICE  # `forge --up` runs `router serve` in front

    register(SERVICE)


@hookimpl
def register_commands(app: typer.Typer) -> None:
    from largeforge_router.cli import build  # the command modules load when the CLI is built, not on plugin load

    app.add_typer(build(), name="router")
