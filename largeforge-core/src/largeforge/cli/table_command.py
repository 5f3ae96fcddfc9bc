"""A Typer command whose options come from a table, for command groups whose commands share most
of their options (``train <method>``, ``quant gptq|awq``): the table is declared once and each
command is built from it instead of spelling the same parameter list again."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import typer

#: One keyword parameter of a command: its annotation and its default (usually a ``typer.Option``).
Param = tuple[Any, Any]


def table_command(body: Callable[..., None], params: Mapping[str, Param], doc: str) -> Callable[..., None]:
    """A command Typer reads as taking ``ctx`` and then ``params`` (name → annotation, default),
    all keyword-only, in that order; it calls ``body(ctx=…, **options)`` and ``--help`` shows ``doc``."""

    def command(**options: Any) -> None:
        body(**options)

    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter("ctx", keyword, annotation=typer.Context)]
    parameters += [
        inspect.Parameter(name, keyword, annotation=annotation, default=default)
        for name, (annotation, default) in params.items()
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = doc
    return command
