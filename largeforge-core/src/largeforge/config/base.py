"""Validated configuration structs that load from and save to YAML, TOML and JSON.

Every config is a :class:`msgspec.Struct` whose bounds live in ``Annotated[..., Meta(...)]``.
Values are checked when a config is built in code *and* when it is loaded from a file; a bad
value raises :class:`~largeforge.errors.ConfigError` with one readable line naming the file,
the field path, the value and the allowed range::

    train.yaml: num_train_epochs = 0 is invalid: expected int >= 1 (allowed: 1 <= value <= 100)
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin

import msgspec

from largeforge.errors import ConfigError

C = TypeVar("C", bound="BaseConfig")

# Set while msgspec builds a config from builtins, so __post_init__ does not re-validate.
_CONVERTING: contextvars.ContextVar[bool] = contextvars.ContextVar("_CONVERTING", default=False)

_SUFFIX_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}


class BaseConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of all LargeForge configs: strict fields, bounds checked on construction."""

    def __post_init__(self) -> None:
        if _CONVERTING.get():
            self.check()
            return
        # Built directly in code: msgspec does not check Meta bounds on __init__, so round-trip
        # through convert(), which checks every field (and runs check() on nested configs).
        token = _CONVERTING.set(True)
        try:
            msgspec.convert(msgspec.to_builtins(self), type(self))
        except msgspec.ValidationError as exc:
            raise ConfigError(format_validation_error(exc, type(self), self.to_dict())) from None
        finally:
            _CONVERTING.reset(token)

    def check(self) -> None:
        """Cross-field rules; raise ``ValueError`` with a message. Subclasses extend this."""

    # -- conversion -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain builtins (dicts, lists, str, numbers) suitable for any serializer."""
        return typing.cast(dict[str, Any], msgspec.to_builtins(self))

    @classmethod
    def from_dict(cls: type[C], data: Any, *, source: str | None = None, strict: bool = False) -> C:
        """Validate ``data`` into this config; errors name ``source`` (a file) when given.

        Lax about scalar spelling (``"1e-4"``, which YAML 1.1 reads as a string, is a float
        here), strict about everything else; ``strict`` takes types as they are (for JSON
        bodies: ``"enabled": 0`` is not a boolean)."""
        token = _CONVERTING.set(True)
        try:
            return msgspec.convert(data, cls, strict=strict)
        except msgspec.ValidationError as exc:
            raise ConfigError(format_validation_error(exc, cls, data, source)) from None
        finally:
            _CONVERTING.reset(token)

    def merged(self: C, **overrides: Any) -> C:
        """A validated copy with ``overrides`` applied; ``None`` values are ignored (unset flags)."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return type(self).from_dict(data, source="command-line options")

    # -- files ------------------------------------------------------------------------------

    @classmethod
    def from_file(cls: type[C], path: str | Path, *, section: str | None = None) -> C:
        """Load from a ``.yaml``/``.yml``, ``.toml`` or ``.json`` file (optionally one section)."""
        data = load_config_file(path)
        if section is not None:
            data = data.get(section, {}) if isinstance(data, dict) else data
        return cls.from_dict(data, source=str(path))

    def to_file(self, path: str | Path) -> Path:
        """Save to ``path``; the suffix picks YAML, TOML or JSON. Written atomically."""
        from largeforge.utils.io import atomic_write

        path = Path(path)
        fmt = _format_of(path)
        data = _drop_none(self.to_dict()) if fmt == "toml" else self.to_dict()
        if fmt == "yaml":
            import yaml

            text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        elif fmt == "toml":
            import tomli_w

            text = tomli_w.dumps(data)
        else:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        atomic_write(path, text)
        return path

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        """Load from a YAML file (spec name; same as :meth:`from_file`)."""
        return cls.from_file(path)

    def to_yaml(self, path: str | Path) -> Path:
        """Save to a YAML file (spec name; same as :meth:`to_file`)."""
        return self.to_file(path)


def load_config_file(path: str | Path) -> Any:
    """Parse a YAML, TOML or JSON file into builtins, with a one-line error on failure."""
    path = Path(path)
    fmt = _format_of(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
        if fmt == "yaml":
            import yaml

            from largeforge.config.yaml_bounds import check_yaml_expansion

            check_yaml_expansion(text, str(path))
            return yaml.safe_load(text) or {}
        if fmt == "toml":
            return _toml().loads(text)
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 at byte {exc.start}") from None
    except ConfigError:
        raise
    except Exception as exc:  # yaml / toml / json parse errors carry their own positions
        raise ConfigError(f"{path}: cannot parse {fmt.upper()}: {_one_line(str(exc))}") from None


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    return tomllib


def _format_of(path: Path) -> str:
    try:
        return _SUFFIX_FORMATS[path.suffix.lower()]
    except KeyError:
        raise ConfigError(f"{path}: unknown config format {path.suffix!r} (use .yaml, .yml, .toml or .json)") from None


def _drop_none(value: Any) -> Any:
    """TOML has no null: omit ``None`` values (they are the defaults when loaded back)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- error formatting ------------------------------------------------------------------------

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.S)
_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[('[^']*'|\"[^\"]*\")\]")


def format_validation_error(
    exc: msgspec.ValidationError, cls: type, data: Any = None, source: str | None = None
) -> str:
    """Turn msgspec's message into ``source: field.path = value is invalid: reason (allowed: …)``."""
    match = _AT.match(str(exc))
    assert match is not None
    message, raw_path = match["msg"], match["path"] or "$"
    tokens: list[str | int] = []
    for name, index, key in _TOKEN.findall(raw_path[1:]):
        tokens.append(name or (int(index) if index else key[1:-1]))
    field_path = _render_path(tokens)
    reason = message.replace("`", "")
    reason = reason[:1].lower() + reason[1:]

    unknown = re.match(r"Object contains unknown field `(.+)`", message)
    missing = re.match(r"Object missing required field `(.+)`", message)
    target = _resolve_type(cls, tokens)
    if unknown:
        name = unknown.group(1)
        where = _render_path([*tokens, name])
        fields = _struct_fields(target)
        line = f"{where}: unknown field" + (f" (allowed: {', '.join(fields)})" if fields else "")
    elif missing:
        line = f"{_render_path([*tokens, missing.group(1)])}: required field is missing"
    else:
        value = _lookup(data, tokens)
        # A cross-field rule fails on a whole section: name it, do not print it.
        shown = "" if value is _MISSING or isinstance(value, (dict, list)) else f" = {_short(value)}"
        allowed = _allowed_range(cls, tokens)
        line = f"{field_path or 'config'}{shown} is invalid: {reason}" + (f" (allowed: {allowed})" if allowed else "")
    return f"{source}: {line}" if source else line


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _render_path(tokens: list[str | int]) -> str:
    out = ""
    for tok in tokens:
        out += f"[{tok}]" if isinstance(tok, int) else (f".{tok}" if out else str(tok))
    return out


_MISSING = object()


def _lookup(data: Any, tokens: list[str | int]) -> Any:
    for tok in tokens:
        try:
            data = data[tok]
        except (KeyError, IndexError, TypeError):
            try:
                data = getattr(data, str(tok))
            except AttributeError:
                return _MISSING
    return data


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional wrappers, keeping a Struct type if one is inside a Union."""
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            inner = _unwrap(arg)
            if isinstance(inner, type) and issubclass(inner, msgspec.Struct):
                return inner
    return tp


def _field_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, include_extras=True)
    except Exception:
        return {}


def _resolve_type(tp: Any, tokens: list[str | int]) -> Any:
    for tok in tokens:
        tp = _unwrap(tp)
        if isinstance(tok, int) or get_origin(tp) in (list, dict, tuple):
            args = get_args(tp)
            tp = args[-1] if args else Any
        elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            tp = _field_hints(tp).get(tok, Any)
        else:
            return Any
    return _unwrap(tp)


def _struct_fields(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return list(tp.__struct_fields__)
    return []


def _allowed_range(cls: type, tokens: list[str | int]) -> str:
    """Describe the allowed values of the field at ``tokens`` from its Meta and Literal type."""
    if not tokens:
        return ""
    parent = _resolve_type(cls, tokens[:-1])
    if not (isinstance(parent, type) and issubclass(parent, msgspec.Struct)):
        return ""
    tp = _field_hints(parent).get(str(tokens[-1]))
    if tp is None:
        return ""
    parts: list[str] = []
    literals: list[Any] = []
    _collect(tp, parts, literals)
    if literals:
        return ", ".join(repr(v) for v in literals)
    return " and ".join(parts)


def _collect(tp: Any, parts: list[str], literals: list[Any]) -> None:
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *metas = get_args(tp)
        lo = hi = None
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                if meta.ge is not None:
                    lo = f"{meta.ge} <= "
                if meta.gt is not None:
                    lo = f"{meta.gt} < "
                if meta.le is not None:
                    hi = f" <= {meta.le}"
                if meta.lt is not None:
                    hi = f" < {meta.lt}"
                if meta.pattern is not None:
                    parts.append(f"matches {meta.pattern}")
                if meta.min_length is not None:
                    parts.append(f"at least {meta.min_length} long")
        if lo or hi:
            parts.insert(0, f"{lo or ''}value{hi or ''}")
        _collect(base, parts, literals)
    elif origin is typing.Literal:
        literals.extend(get_args(tp))
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            if arg is not type(None):
                _collect(arg, parts, literals)
