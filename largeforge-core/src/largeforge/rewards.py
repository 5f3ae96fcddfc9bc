"""GRPO reward functions: the built-ins, and binding any registered reward to a run's settings.

A reward is a TRL reward function: ``reward(completions, **kwargs)`` returns one score (or
``None`` where it does not apply) per completion. TRL passes ``prompts``, ``completion_ids``,
``trainer_state`` and every dataset column by name (one value per completion). A reward's own
parameters say what it needs, so a run is checked before the model loads:

* a parameter named like a setting (``format_pattern``, ``reference_column`` or a key of
  ``reward_options``) is filled from the config; one that has no default must be set;
* any other parameter without a default is a dataset column the data must have;
* an optional ``columns`` attribute (a list, or a function of the settings) names columns that
  depend on a setting, as ``exact_match`` reads the column ``reference_column`` names.

Built-ins: ``exact_match`` and ``contains_answer`` (against a reference column, ``answer`` by
default), ``format_regex`` (``format_pattern`` found in the completion; anchor it with ``^``/``$``
to match the whole text) and ``json_valid`` (the completion, code fences aside, parses as JSON).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from largeforge.errors import ConfigError
from largeforge.evaluation.metrics import normalize
from largeforge.plugins import registries

#: Keyword arguments TRL itself passes to every reward function.
TRL_KWARGS = frozenset(
    {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}
)
#: Settings of a GRPO config that rewards may take as parameters (besides ``reward_options``).
SETTINGS = ("format_pattern", "reference_column")

Reward = Callable[..., Any]  # TRL's reward signature: (completions, **kwargs) -> list[float | None]


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or (conversational data) its last message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content") or "")
    return str(completion)


def exact_match(completions: list[Any], reference_column: str = "answer", **kwargs: Any) -> list[float]:
    """1.0 where the completion equals the row's reference (trimmed, whitespace collapsed, case-folded)."""
    references = kwargs[reference_column]
    return [
        float(normalize(completion_text(c)) == normalize(str(r))) for c, r in zip(completions, references, strict=True)
    ]


def contains_answer(completions: list[Any], reference_column: str = "answer", **kwargs: Any) -> list[float]:
    """1.0 where the row's reference appears in the completion (compared as :func:`exact_match` does)."""
    references = kwargs[reference_column]
    return [
        float(normalize(str(r)) in normalize(completion_text(c))) for c, r in zip(completions, references, strict=True)
    ]


def _reference_columns(settings: Mapping[str, Any]) -> list[str]:
    return [str(settings.get("reference_column") or "answer")]


exact_match.columns = _reference_columns  # type: ignore[attr-defined]
contains_answer.columns = _reference_columns  # type: ignore[attr-defined]


def format_regex(completions: list[Any], format_pattern: str, **kwargs: Any) -> list[float]:
    """1.0 where ``format_pattern`` (a Python regular expression, ``.`` matching newlines) is found in
    the completion; anchor it (``^...$``) to require the whole completion in that format."""
    pattern = re.compile(format_pattern, re.DOTALL)
    return [float(pattern.search(completion_text(c)) is not None) for c in completions]


_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)


def json_valid(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 where the completion is valid JSON (inside a Markdown code fence or not)."""
    scores = []
    for completion in completions:
        text = completion_text(completion).strip()
        fenced = _FENCE.match(text)
        try:
            json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            scores.append(0.0)
        else:
            scores.append(1.0)
    return scores


BUILTIN_REWARDS: dict[str, Reward] = {
    "exact_match": exact_match,
    "contains_answer": contains_answer,
    "format_regex": format_regex,
    "json_valid": json_valid,
}


def _parameters(reward: Reward) -> list[inspect.Parameter]:
    try:
        signature = inspect.signature(reward)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to learn from it
        return []
    return [
        p
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and p.name not in TRL_KWARGS
    ]


def required_columns(name: str, reward: Reward, settings: Mapping[str, Any]) -> list[str]:
    """The dataset columns ``reward`` reads under these ``settings`` (see the module docstring)."""
    options = set(SETTINGS) | set(settings)
    columns = [p.name for p in _parameters(reward) if p.name not in options and p.default is p.empty]
    extra = getattr(reward, "columns", None)
    if extra is not None:
        columns += list(extra(settings) if callable(extra) else extra)
    return list(dict.fromkeys(columns))


def bind_reward(name: str, reward: Reward, settings: Mapping[str, Any]) -> Reward:
    """``reward`` with the settings it takes filled in, named ``name`` (TRL logs ``rewards/<name>/mean``).

    Raises :class:`ConfigError` when a setting it needs is unset or a ``format_pattern`` does not
    compile."""
    given = {k: v for k, v in settings.items() if v is not None}
    bound: dict[str, Any] = {}
    for param in _parameters(reward):
        if param.name in given:
            bound[param.name] = given[param.name]
        elif param.name in SETTINGS and param.default is param.empty:
            raise ConfigError(
                f"reward {name!r} needs {param.name}: set it in the config or with --{param.name.replace('_', '-')}"
            )
    if "format_pattern" in bound:
        try:
            re.compile(bound["format_pattern"])
        except re.error as exc:
            raise ConfigError(f"format_pattern {bound['format_pattern']!r}: not a regular expression ({exc})") from None

    def call(*args: Any, **kwargs: Any) -> list[float | None]:
        return reward(*args, **{**kwargs, **bound})

    call.__name__ = call.__qualname__ = name
    call.__doc__ = reward.__doc__
    call.columns = required_columns(name, reward, settings)  # type: ignore[attr-defined]
    return call


def resolve_rewards(
    names: list[str], settings: Mapping[str, Any] | None = None, weights: list[float] | None = None
) -> list[tuple[str, Reward]]:
    """The registered rewards ``names``, bound to ``settings``: ``[(name, reward), ...]``.

    One-line :class:`ConfigError` for no reward, an unregistered name (listing the registered
    ones), weights that do not match the rewards, or a missing setting."""
    registry = registries().rewards
    if not names:
        raise ConfigError(
            f"GRPO needs at least one reward: set reward_funcs (registered: {', '.join(registry.names())})"
        )
    if weights is not None and len(weights) != len(names):
        raise ConfigError(
            f"reward_weights has {len(weights)} values for {len(names)} reward_funcs "
            f"({', '.join(names)}): give one weight per reward"
        )
    out: list[tuple[str, Reward]] = []
    for name in names:
        if name not in registry:
            raise ConfigError(f"unknown reward {name!r} (registered: {', '.join(registry.names()) or 'none'})")
        out.append((name, bind_reward(name, registry.get(name), settings or {})))
    return out
