"""What planning a forge checks before anything runs, shared by the stage planners: that a
stage's plugin is installed (else which distribution to install) and that its options are valid
(else the pipeline line of the offending option)."""

from __future__ import annotations

import re
from typing import Any

from largeforge.errors import ConfigError, LargeForgeError
from largeforge.forge.spec import Pipeline, field_tokens
from largeforge.plugins import registries

#: Which distribution provides the built-in plugin of each kind, for "install X" messages.
PROVIDERS = {
    "trainers": ("largeforge-train", "train"),
    "quantizers": ("largeforge-quant", "quant"),
    "backends": ("largeforge-serve", "serve"),
    "classifiers": ("largeforge-router", "router"),
    "evaluators": ("largeforge-train", "train"),
    "metrics": ("largeforge-core", "all"),
}
BUILTIN = {
    "trainers": {"sft", "dpo", "kto", "orpo", "simpo", "cpo", "grpo"},
    "quantizers": {"gptq", "awq", "gguf"},
    "backends": {"transformers", "vllm", "llamacpp", "auto"},
    "classifiers": {"keyword", "neural", "hybrid"},
    "evaluators": {"transformers"},
    "metrics": {"exact_match", "contains", "rouge_l"},
}


class PlanError(LargeForgeError):
    """A pipeline cannot run as written (missing data, plugin or bad option)."""


def require_plugin(kind: str, name: str, where: str, what: str) -> Any:
    """The plugin registered as ``name`` in the registry ``kind`` (``trainers``, ``quantizers``,
    …), or a :class:`PlanError` naming the distribution to install."""
    registry = getattr(registries(), kind)
    if name in registry:
        return registry.get(name)
    dist, extra = PROVIDERS[kind]
    if name in BUILTIN[kind]:
        raise PlanError(
            f"{where}: {what} needs the {dist} distribution, which is not installed: "
            f'pip install "largeforge-core[{extra}]"'
        )
    known = ", ".join(registry.names()) or "none"
    raise PlanError(f"{where}: {what}: no {registry.kind} plugin named {name!r} is installed (registered: {known})")


def check_options(cls: type, data: dict[str, Any], pipeline: Pipeline, *at: str | int) -> dict[str, Any]:
    """Validate stage options into ``cls``; an error names the line of the offending option."""
    try:
        return cls.from_dict(data).to_dict()  # type: ignore[attr-defined,no-any-return]
    except ConfigError as exc:
        field = re.split(r"[ :=]", str(exc), maxsplit=1)[0]
        raise PlanError(f"{pipeline.where(*at, *field_tokens(field))}: {exc}") from None
