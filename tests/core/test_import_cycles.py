"""``scripts/check_import_cycles.py``: the CI step that fails on an import cycle between the
distributions' modules, counting imports inside functions too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_import_cycles.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True, check=False
    )


def write(root: Path, module: str, text: str) -> None:
    path = root / "largeforge-demo" / "src" / Path(*module.split(".")).with_suffix(".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / "__init__.py").touch()
    path.write_text(text)


def test_the_repository_has_no_new_cycle() -> None:
    result = check(SCRIPT.parents[1])
    assert result.returncode == 0, result.stdout


def test_a_cycle_hidden_inside_a_function_fails(tmp_path: Path) -> None:
    write(tmp_path, "largeforge_demo.a", "from largeforge_demo import b\n")
    write(tmp_path, "largeforge_demo.b", "def f():\n    from largeforge_demo.a import thing\n")
    write(
        tmp_path,
        "largeforge_demo.c",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from largeforge_demo import a\n",
    )
    result = check(tmp_path)
    assert result.returncode == 1
    assert "import cycle: largeforge_demo.a ↔ largeforge_demo.b" in result.stdout
    assert "largeforge_demo.c" not in result.stdout  # imports for type checking never run


def test_no_cycle_passes(tmp_path: Path) -> None:
    write(tmp_path, "largeforge_demo.a", "from largeforge_demo import b\n")
    write(tmp_path, "largeforge_demo.b", "import json\n")
    assert check(tmp_path).returncode == 0
