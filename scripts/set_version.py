"""Set LargeForge's version everywhere it is written, in lockstep: ``python scripts/set_version.py 0.2.0``.

The source is ``largeforge-core/src/largeforge/version.py``; this script writes it, the five
``pyproject.toml`` versions, the siblings' ``largeforge-core==`` pins and core's extras pins.
``tests/core/test_version_lockstep.py`` fails when any of them drifts.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTS = ("core", "train", "serve", "router", "quant")


def set_version(version: str) -> None:
    """Rewrite every version and pin to ``version``."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise SystemExit(f"version {version!r} is not MAJOR.MINOR.PATCH")
    source = ROOT / "largeforge-core/src/largeforge/version.py"
    text = re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', source.read_text())
    source.write_text(
        re.sub(
            r"VERSION_INFO: tuple\[int, int, int\] = \([^)]*\)",
            "VERSION_INFO: tuple[int, int, int] = ({})".format(", ".join(version.split("."))),
            text,
        )
    )
    for dist in DISTS:
        path = ROOT / f"largeforge-{dist}/pyproject.toml"
        text = re.sub(r'(?m)^version = "[^"]+"', f'version = "{version}"', path.read_text())
        text = re.sub(r'"(largeforge-(?:core|train|serve|router|quant))==[^"]+"', rf'"\1=={version}"', text)
        path.write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    set_version(sys.argv[1])
