"""llama.cpp weight repacking: off on AMX CPUs (its AMX path crashed here), overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from largeforge.utils import llamacpp
from largeforge.utils.llamacpp import REPACK_ENV, cpu_has_amx, repack_args, weight_repacking


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu {flags}\n")
    return path


def test_amx_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    assert cpu_has_amx(_cpuinfo(tmp_path, "avx512f amx_bf16 amx_tile amx_int8"))
    assert not cpu_has_amx(_cpuinfo(tmp_path, "avx512f avx512_vnni"))
    assert not cpu_has_amx(tmp_path / "missing")


@pytest.mark.parametrize(
    ("amx", "env", "expected"),
    [
        (True, None, False),
        (False, None, True),
        (True, "1", True),
        (False, "0", False),
        (False, "off", False),
    ],
)
def test_repacking_is_off_on_amx_unless_asked(
    monkeypatch: pytest.MonkeyPatch, amx: bool, env: str | None, expected: bool
) -> None:
    monkeypatch.setattr(llamacpp, "cpu_has_amx", lambda: amx)
    if env is None:
        monkeypatch.delenv(REPACK_ENV, raising=False)
    else:
        monkeypatch.setenv(REPACK_ENV, env)
    assert weight_repacking() is expected
    assert repack_args() == ([] if expected else ["--no-repack"])
