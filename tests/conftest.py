"""Fixtures shared by every test folder.

* ``smollm2_dir``: the embedded SmolLM2-135M-Instruct, converted once into the LargeForge cache
  (``largeforge models pull smollm2-135m-instruct`` prepares it; CI runs that first).
* ``tiny_model_dir``: a tiny random Llama (2 layers, hidden 64) with SmolLM2's real tokenizer
  and chat template, built once per session; fast enough for unit tests.
* ``pm``: a fresh plugin manager with only the core plugin, for registering test plugins.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import build_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _pin_llama_cpp_dir() -> None:
    """Tests that move LARGEFORGE_HOME (quant's calibration cache) keep the installed llama.cpp."""
    from largeforge.models.paths import llama_cpp_home

    if "LARGEFORGE_LLAMA_CPP_DIR" not in os.environ and llama_cpp_home().is_dir():
        os.environ["LARGEFORGE_LLAMA_CPP_DIR"] = str(llama_cpp_home())


_pin_llama_cpp_dir()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data/real``: real-world samples (skips when not beside the checkout)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture()
def pm():
    """A plugin manager with the core plugin only; register test plugins on it."""
    from largeforge.plugins import make_plugin_manager, set_plugin_manager

    manager = make_plugin_manager(load_entrypoints=False)
    set_plugin_manager(manager)
    try:
        yield manager
    finally:
        set_plugin_manager(None)


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The embedded SmolLM2-135M-Instruct as a local safetensors directory."""
    pytest.importorskip("transformers")
    from largeforge.models import DEFAULT_MODEL, resolve_model

    return resolve_model(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_dir: Path) -> Path:
    """A tiny random Llama with SmolLM2's tokenizer (2 layers, hidden 64)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"), smollm2_dir)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop every test server still running (also after a Ctrl+C): none is left orphaned."""
    from largeforge.utils.process import stop_all

    stop_all()
