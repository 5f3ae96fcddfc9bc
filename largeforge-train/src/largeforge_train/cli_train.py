"""The ``largeforge train`` command group: one command per method of
:data:`~largeforge_train.cli_methods.METHODS`, all with one body (:mod:`largeforge_train.cli_run`),
and ``merge``.

This module only declares the commands: it loads with every ``largeforge`` call, so a command's
body, and what it imports, loads when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import msgspec
import typer

from largeforge.cli.table_command import table_command
from largeforge.config import LoRAConfig
from largeforge.errors import ConfigError
from largeforge.plugins import registries
from largeforge_train.cli_methods import METHODS, Method
from largeforge_train.cli_options import Option, parameters


def _trainer_class(method: str | None) -> Any:
    try:
        return registries().trainers.get(method or "")
    except Exception:
        return None


class TrainCommand(typer.core.TyperCommand):
    """A ``largeforge train <method>`` command: extra flags are the trainer's TRL config fields
    (``--optim adamw_torch``, as with TrlParser), and ``--help`` shows the config's defaults.

    Use it as ``@app.command(cls=TrainCommand)`` with a ``ctx: typer.Context`` parameter, and pass
    ``ctx`` to :func:`trl_flags`; the method's config class is the trainer's ``config`` annotation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {
            **(kwargs.get("context_settings") or {}),
            "allow_extra_args": True,
            "ignore_unknown_options": True,
        }
        super().__init__(*args, **kwargs)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        trainer_cls = _trainer_class(ctx.info_name)
        if trainer_cls is not None:
            from largeforge_train.cli_settings import config_class  # the command's modules: only for its --help

            method = METHODS.get(ctx.info_name)
            _show_defaults(self.params, config_class(trainer_cls), method.all_options() if method else {})
            if trainer_cls.trl_config_class and not self.epilog:
                self.epilog = (
                    f"Any field of {trainer_cls.trl_config_class} is a flag too, as with TRL's parser "
                    "(--optim adamw_torch --lr_scheduler_type cosine), or a key of --config; "
                    "--print-config shows the result."
                )
        super().format_help(ctx, formatter)


def _defaults(struct: Any) -> dict[str, Any]:
    return {
        f.name: f.default
        if f.default is not msgspec.NODEFAULT
        else (f.default_factory() if f.default_factory is not msgspec.NODEFAULT else None)
        for f in msgspec.structs.fields(struct)
    }


def _show_defaults(params: list[Any], config_cls: Any, options: dict[str, Option]) -> None:
    """Show the default of every flag that sets a config or LoRA field (their typer default is None)."""
    defaults = {"config": _defaults(config_cls), "lora": _defaults(LoRAConfig)}
    for param in params:
        option = options.get(param.name)
        if param.default is not None or isinstance(param.show_default, str) or option is None:
            continue
        name = option.target(param.name)
        value = defaults.get(option.kind, {}).get(config_cls.trl_aliases.get(name, name))
        if value is None:
            continue
        param.show_default = (
            ",".join(value)
            if isinstance(value, list)
            else str(value).lower()
            if isinstance(value, bool)
            else str(value)
        )


def _command(name: str, method: Method) -> Any:
    def run(**options: Any) -> None:
        from largeforge_train.cli_run import train_method  # the body loads when the command runs

        train_method(name, method, options)

    return table_command(run, parameters(method.all_options()), method.help)


def merge(
    adapter: Path = typer.Option(..., "--adapter", "-a", help="LoRA adapter directory."),
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the merged model."),
    base: Optional[str] = typer.Option(None, "--base", "-b", help="Base model (default: the adapter's)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
) -> None:
    """Merge a LoRA adapter into its base model: an ordinary model directory (safetensors)."""
    from largeforge.cli.output import print_success  # the body's modules load when the command runs
    from largeforge_train.lora import merge_lora

    if dtype not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"--dtype {dtype!r}: expected float32, bfloat16 or float16")
    path = merge_lora(base, str(adapter), str(output), torch_dtype=dtype)
    print_success(f"merged model written to {path}")


def build_train() -> typer.Typer:
    """The ``train`` command group: one command per method, and ``merge``."""
    app = typer.Typer(
        help="Fine-tune models: SFT, DPO, KTO, ORPO, SimPO, CPO and GRPO with LoRA, and merge adapters.",
        no_args_is_help=True,
    )
    for name, method in METHODS.items():
        app.command(name, help=method.help, cls=TrainCommand)(_command(name, method))
    app.command()(merge)
    return app
