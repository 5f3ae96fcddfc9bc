"""One version for the five distributions, ``largeforge.__version__`` and the
pins between them (siblings on ``largeforge-core==V``, core's extras on each sibling ``==V``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DISTS = ("core", "train", "serve", "router", "quant")


def project(dist: str) -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / f"largeforge-{dist}/pyproject.toml").read_text())["project"]


def test_versions_and_pins_move_together() -> None:
    from largeforge.version import VERSION_INFO, __version__

    assert {dist: project(dist)["version"] for dist in DISTS} == dict.fromkeys(DISTS, __version__)
    assert ".".join(map(str, VERSION_INFO)) == __version__
    for dist in DISTS[1:]:
        pins = [d for d in project(dist)["dependencies"] if d.startswith("largeforge-core")]
        assert pins == [f"largeforge-core=={__version__}"], (dist, pins)
    for extra, requirements in project("core")["optional-dependencies"].items():
        for requirement in requirements:
            if requirement.startswith("largeforge-"):
                assert re.fullmatch(rf"largeforge-(train|serve|router|quant)=={re.escape(__version__)}", requirement), (
                    extra,
                    requirement,
                )


def test_set_version_rewrites_every_place(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shutil

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import set_version
    finally:
        sys.path.pop(0)
    for dist in DISTS:
        (tmp_path / f"largeforge-{dist}").mkdir()
        shutil.copy(ROOT / f"largeforge-{dist}/pyproject.toml", tmp_path / f"largeforge-{dist}/pyproject.toml")
    version_py = tmp_path / "largeforge-core/src/largeforge/version.py"
    version_py.parent.mkdir(parents=True)
    shutil.copy(ROOT / "largeforge-core/src/largeforge/version.py", version_py)
    monkeypatch.setattr(set_version, "ROOT", tmp_path)
    set_version.set_version("9.8.7")
    assert '__version__ = "9.8.7"' in version_py.read_text() and "(9, 8, 7)" in version_py.read_text()
    for dist in DISTS:
        text = (tmp_path / f"largeforge-{dist}/pyproject.toml").read_text()
        assert 'version = "9.8.7"' in text
        assert not re.search(r"largeforge-\w+==(?!9\.8\.7)", text), dist


def test_core_does_not_need_datasets() -> None:
    """``datasets`` (pyarrow, pandas) is not a core dependency; the one core function that needs
    it imports it lazily and says what to install."""
    assert not [d for d in project("core")["dependencies"] if d.startswith("datasets")]
    for dist in ("train", "quant"):
        assert any(d.startswith("datasets") for d in project(dist)["dependencies"]), dist
    assert "autoawq" not in project("quant")["optional-dependencies"]
    assert "autogptq" not in project("quant")["optional-dependencies"]


def test_without_datasets_the_trainer_hand_off_says_what_to_install(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from largeforge.data import Conversation, Message
    from largeforge.data.loader import conversations_to_dataset
    from largeforge.errors import DataError

    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets → ImportError
    with pytest.raises(DataError, match=r"largeforge-core\[train\]"):
        conversations_to_dataset([Conversation([Message("user", "hi"), Message("assistant", "hello")])])
