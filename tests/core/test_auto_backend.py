"""``auto`` is the highest rank any registered backend gives itself for a model: a plugin's
backend joins the choice by ranking itself, with no change in the core or the serve plugin."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from largeforge import hookimpl
from largeforge.backends import auto_backend, auto_ranks
from largeforge.contracts import InferenceEngine
from largeforge.errors import ConfigError


class _Engine(InferenceEngine):
    backend_name: ClassVar[str] = "test"

    def load(self) -> None: ...

    @property
    def is_loaded(self) -> bool:
        return False

    def generate(self, prompt: str, config: Any = None) -> str:
        return ""

    def generate_stream(self, prompt: str, config: Any = None) -> Any:
        return iter(())


class Anything(_Engine):
    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        return 0


class OnlyNpz(_Engine):
    """Ranks first for its own file type, and only without adapters."""

    @classmethod
    def auto_rank(cls, model: str, *, adapters: bool = False) -> int | None:
        return 50 if model.endswith(".npz") and not adapters else None


class Never(_Engine):
    """Takes part only when asked for by name (the contract's default rank)."""


class Backends:
    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("anything", Anything)
        register("never", Never)
        register("npz", OnlyNpz)


def test_auto_takes_the_highest_rank(pm: Any) -> None:
    pm.register(Backends(), name="backends")
    assert auto_ranks("m.npz") == {"anything": 0, "npz": 50}
    assert auto_backend("m.npz") == "npz"
    assert auto_backend("m.npz", adapters=True) == "anything"
    assert auto_backend("some/model") == "anything"


def test_auto_without_a_candidate_says_what_to_install(pm: Any) -> None:
    with pytest.raises(ConfigError, match=r"no installed inference backend can serve m.*largeforge-core\[serve\]"):
        auto_backend("m")
