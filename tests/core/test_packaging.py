"""Each distribution's wheel carries the licence file, ``py.typed``,
classifiers, and (for the torch siblings) a transformers bound that takes float warmup steps."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "core": "largeforge",
    "train": "largeforge_train",
    "serve": "largeforge_serve",
    "router": "largeforge_router",
    "quant": "largeforge_quant",
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            *(str(ROOT / f"largeforge-{d}") for d in PACKAGES),
        ],
        check=True,
        timeout=600,
    )
    return {d: next(out.glob(f"largeforge_{d}-*.whl")) for d in PACKAGES}


@pytest.mark.parametrize("dist", sorted(PACKAGES))
def test_wheel_has_licence_typing_marker_and_classifiers(wheels: dict[str, Path], dist: str) -> None:
    with zipfile.ZipFile(wheels[dist]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        licence = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
        assert "Apache License" in wheel.read(licence).decode()
    assert f"{PACKAGES[dist]}/py.typed" in names
    if dist == "quant":  # the default calibration set ships in the wheel
        assert "largeforge_quant/data/calibration.jsonl" in names
    assert "License-Expression: Apache-2.0" in metadata and "License-File: LICENSE" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist: transformers"):
            assert ">=5" in line, line


def test_repository_has_the_licence() -> None:
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("dist", ["core", "train", "router", "quant"])
def test_readme_has_no_link_that_breaks_on_pypi(dist: str) -> None:
    """The README is the PyPI page, where ``../README.md`` leads nowhere."""
    assert "](../" not in (ROOT / f"largeforge-{dist}" / "README.md").read_text()
