"""What every command that reads data shares: the ``--format``, ``--columns`` and ``--dataset-info``
options, opening a source from them, and the ``data`` section of the global ``--config`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from largeforge.errors import ConfigError

FORMAT = typer.Option(None, "--format", "-f", help="Data layout (see `largeforge plugins`), or auto to detect it.")
COLUMNS = typer.Option(
    None,
    "--columns",
    help="Where the layout's fields are in your data: instruction=question,output=answer; role=speaker,"
    "content=text for message keys; user_tag=customer for role values (LLaMA-Factory's names work too).",
)
DATASET_INFO = typer.Option(
    None, "--dataset-info", help="A LLaMA-Factory dataset_info.json: the data argument may name one of its datasets."
)

SECTION = "data"
#: The settings each data command takes from the ``data`` section (flags win), and their defaults.
COMMAND_SETTINGS: dict[str, dict[str, Any]] = {
    "validate": {"format": "auto", "columns": None, "dataset_info": None, "max_errors": 0, "workers": None},
    "convert": {"to": None, "from": "auto", "columns": None, "dataset_info": None, "overwrite": False},
    "stats": {"format": "auto", "columns": None, "dataset_info": None, "tokenizer": None},
    "preview": {
        "format": "auto",
        "columns": None,
        "dataset_info": None,
        "rows": 3,
        "template": None,
        "chat_template": None,
    },
}


def settings(ctx: typer.Context, command: str, **flags: Any) -> dict[str, Any]:
    """``command``'s settings: defaults, then the global config's ``data`` section (its flat keys,
    then its ``data.<command>`` mapping), then the flags given. An unknown key is a one-line error."""
    from largeforge.cli.state import get_state

    state = get_state(ctx)
    section = state.section(SECTION)
    known = {key for keys in COMMAND_SETTINGS.values() for key in keys}
    where = f"{state.config_path}: {SECTION}"
    for key, value in section.items():
        if key in COMMAND_SETTINGS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a mapping of `largeforge data {key}` settings")
            unknown = sorted(set(value) - set(COMMAND_SETTINGS[key]))
            if unknown:
                raise ConfigError(
                    f"{where}.{key}.{unknown[0]}: not a setting of `largeforge data {key}` "
                    f"(settings: {', '.join(COMMAND_SETTINGS[key])})"
                )
        elif key not in known:
            raise ConfigError(
                f"{where}.{key}: not a data setting (settings: {', '.join(sorted(known))}, "
                f"or a section per command: {', '.join(COMMAND_SETTINGS)})"
            )
    allowed = COMMAND_SETTINGS[command]
    values = dict(allowed)
    values.update({k: v for k, v in section.items() if k in allowed})
    values.update(section.get(command) or {})
    if state.config_path is not None and values.get("dataset_info") and flags.get("dataset_info") is None:
        values["dataset_info"] = state.config_path.parent / str(values["dataset_info"])  # beside the config
    values.update({k: v for k, v in flags.items() if v is not None})
    return values


def source_of(location: str, columns: Any, dataset_info: Any) -> Any:
    """The data source ``location`` names, its columns mapped by ``columns`` (``name=column`` text or
    a mapping), names looked up in ``dataset_info`` (a LLaMA-Factory registry)."""
    from largeforge.data.columns import ColumnMap
    from largeforge.data.detect import format_fields
    from largeforge.data.source import open_source

    return open_source(
        location,
        columns=ColumnMap.parse(columns, fields=format_fields()),
        dataset_info=Path(dataset_info) if dataset_info else None,
    )
