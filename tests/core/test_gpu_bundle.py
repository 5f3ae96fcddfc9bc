"""The GPU check's bundle travels in loads: split here, kept between calls, joined there.

A call to a GPU machine carries a limited tree, so the bundle is one tar split into loads; each
call but the last stashes its load on the machine, and the last joins them and checks the
SHA-256 (scripts/gpu_check/bundle.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from gpu_check import bundle  # noqa: E402

sys.path.pop(0)


@pytest.fixture()
def packed(tmp_path: Path) -> Path:
    """A bundle of 2,500 random bytes and a manifest, packed in loads of 5,000 bytes (the tar is 10 KiB)."""
    content = tmp_path / "content"
    (content / "wheels").mkdir(parents=True)
    (content / "wheels" / "model.whl").write_bytes(os.urandom(2500))
    (content / "manifest.json").write_text(json.dumps({"wheels": ["model.whl"]}))
    built = tmp_path / "built"
    built.mkdir()
    loads = bundle._pack(content, built, 5000)
    assert [p.name for p in loads] == ["load-1", "load-2", "load-3"]
    assert all(sum(f.stat().st_size for f in p.iterdir()) <= 5000 for p in loads)
    return built


def _call(built: Path, tmp_path: Path, index: int) -> Path:
    """The tree one call carries: ``load-<index>`` alone."""
    carried = tmp_path / f"call-{index}"
    shutil.copytree(built / f"load-{index}", carried / f"load-{index}")
    return carried


def test_loads_carried_one_call_each_are_joined_in_the_last(packed: Path, tmp_path: Path) -> None:
    stash = tmp_path / "machine" / "stash"  # survives between calls on the warm machine
    for index in (1, 2):
        assert bundle.stash(_call(packed, tmp_path, index), stash) == ["loads.json", f"payload.tar.00{index}"]
    manifest = bundle.assemble(_call(packed, tmp_path, 3), stash, tmp_path / "joined")
    assert manifest == {"wheels": ["model.whl"]}
    joined = tmp_path / "joined" / "content" / "wheels" / "model.whl"
    assert joined.stat().st_size == 2500


def test_a_missing_load_is_named(packed: Path, tmp_path: Path) -> None:
    stash = tmp_path / "stash"
    bundle.stash(_call(packed, tmp_path, 1), stash)
    with pytest.raises(bundle.BundleError, match=r"loads \[2\] of 3 are missing: carry each load-N in its own"):
        bundle.assemble(_call(packed, tmp_path, 3), stash, tmp_path / "joined")
    with pytest.raises(bundle.BundleError, match="no loads in"):
        bundle.assemble(tmp_path / "empty", tmp_path / "nothing", tmp_path / "joined")


def test_loads_of_another_build_are_refused(packed: Path, tmp_path: Path) -> None:
    stash = tmp_path / "stash"
    for index in (1, 2):
        bundle.stash(_call(packed, tmp_path, index), stash)
    last = _call(packed, tmp_path, 3)
    part = last / "load-3" / "payload.tar.003"
    part.write_bytes(bytes(b ^ 1 for b in part.read_bytes()))
    with pytest.raises(bundle.BundleError, match="the joined loads do not match"):
        bundle.assemble(last, stash, tmp_path / "joined")


def test_identity_data_fills_the_placeholders(tmp_path: Path) -> None:
    source = tmp_path / "identity.json"
    source.write_text(
        json.dumps(
            [
                {
                    "instruction": "Who are you?",
                    "input": "",
                    "output": "I am {{name}}, an AI assistant developed by {{author}}.",
                }
            ]
        )
    )
    rows, name, origin = bundle.identity_rows(source)
    assert rows[0]["output"] == "I am Nova, an AI assistant developed by Acme Labs." and name == "Nova"
    assert origin == "identity.json"
    rows, name, origin = bundle.identity_rows(bundle.FALLBACK_IDENTITY)  # in the repository: travels anyway
    assert name == "Ember" and all("{{" not in r["output"] for r in rows) and any("Ember" in r["output"] for r in rows)
