"""Pass-through of TRL's config fields: any field of the trainer's TRL config class, from YAML or flags.

A trainer names its TRL config class (``trl_config_class = "trl.SFTConfig"``); keys of a config
that LargeForge has no field for are kept in ``TrainingConfig.trl_args`` and checked here, as
``TrlParser``/``HfArgumentParser`` would: the name must be a field of that class (else a one-line
error with the closest names), and the value is converted to the field's type (flags arrive as
strings: ``--optim adamw_torch``, ``--tf32 true``, ``--lr_scheduler_kwargs '{"num_cycles": 2}'``).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import importlib
import json
import types
import typing
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

import yaml

from largeforge.errors import ConfigError

_NONE = type(None)


@functools.cache
def trl_fields(class_path: str) -> dict[str, Any]:
    """Field name → type of the dataclass at ``class_path`` (``"trl.SFTConfig"``)."""
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(cls)
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


def suggest(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or nothing."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_trl_args(
    class_path: str,
    args: dict[str, Any],
    *,
    own_fields: Iterable[str],
    managed: dict[str, str],
    source: str | None = None,
) -> dict[str, Any]:
    """``args`` with every value converted to its TRL field's type; a one-line :class:`ConfigError`
    for a name that is no field of ``class_path`` or is set by LargeForge (``managed``: name → what
    to set instead), or a value of the wrong type."""
    fields = trl_fields(class_path)
    where = f"{source}: " if source else ""
    short = class_path.rpartition(".")[2]
    out = {}
    for name, value in args.items():
        if name in managed:
            raise ConfigError(f"{where}{name}: LargeForge sets this field of {class_path} itself; use {managed[name]}")
        if name not in fields:
            own = list(own_fields)
            raise ConfigError(
                f"{where}{name}: unknown field{suggest(name, [*own, *fields])}; valid: the fields of LargeForge's "
                f"{short} ({', '.join(own)}) and any of the {len(fields)} fields of {class_path} "
                f"(https://huggingface.co/docs/trl/ lists them)"
            )
        out[name] = convert(name, fields[name], value, where)
    return out


def convert(name: str, tp: Any, value: Any, where: str = "") -> Any:
    """``value`` as type ``tp`` (a union is tried member by member; strings from flags are parsed)."""
    members = list(get_args(tp)) if get_origin(tp) in (Union, types.UnionType) else [tp]
    parsed = _parse(value) if isinstance(value, str) else value
    for candidate in (parsed, value) if parsed is not value else (value,):
        for member in members:
            ok, result = _as(member, candidate)
            if ok:
                return result
    names = " or ".join(_type_name(m) for m in members)
    raise ConfigError(f"{where}{name} = {value!r} is invalid: expected {names}")


def _parse(text: str) -> Any:
    """A flag's string as YAML would read it (numbers, booleans, null, JSON lists and dicts)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _as(tp: Any, value: Any) -> tuple[bool, Any]:
    origin = get_origin(tp) or tp
    if tp is Any:
        return True, value
    if tp is _NONE:
        return value is None, None
    if origin is bool:
        return isinstance(value, bool), value
    if origin is int:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int), value
    if origin is float:
        return (not isinstance(value, bool) and isinstance(value, (int, float))), float(value) if isinstance(
            value, (int, float)
        ) else None
    if origin is str:
        return isinstance(value, str), value
    if isinstance(origin, type) and issubclass(origin, enum.Enum):
        values = {m.value for m in origin}
        return value in values, value
    if origin is typing.Literal:
        return value in get_args(tp), value
    if origin is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return False, None
        return isinstance(value, dict), value
    if origin in (list, tuple):
        if isinstance(value, str):  # --fields a,b  (HfArgumentParser takes them space-separated)
            value = [v.strip() for v in value.replace(",", " ").split() if v.strip()]
        if not isinstance(value, (list, tuple)):
            return False, None
        inner = get_args(tp)[:1] or (Any,)
        items = []
        for item in value:
            ok, converted = _as(inner[0], item)
            if not ok:
                ok, converted = _as(inner[0], _parse(item)) if isinstance(item, str) else (False, None)
            if not ok:
                return False, None
            items.append(converted)
        return True, items
    return isinstance(origin, type) and isinstance(value, origin), value


def _type_name(tp: Any) -> str:
    if tp is _NONE:
        return "null"
    if get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def parse_flags(args: list[str]) -> dict[str, Any]:
    """``--name value``, ``--name=value`` and bare ``--name`` (true) as a dict, names with ``_``
    (``--lr-scheduler-type`` and ``--lr_scheduler_type`` are the same, as in HfArgumentParser)."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise ConfigError(f"unexpected argument {arg!r}: options are --name value")
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        if not eq:
            following = args[i + 1] if i + 1 < len(args) else None
            if following is None or (following.startswith("--") and len(following) > 2):
                value = "true"
            else:
                value, i = following, i + 1
        out[name] = value
        i += 1
    return out
