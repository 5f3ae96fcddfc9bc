"""nox sessions: one per distribution (core + that distribution only, installed from built wheels,
proving it stands alone), plus lint, typecheck, e2e, bench and demo.

    nox -s core train serve router quant    # each in its own virtualenv
    nox -s lint typecheck
    nox -s e2e                              # cross-distribution end-to-end tests
    nox -s bench                            # benchmarks/ → benchmarks/results/
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

ROOT = Path(__file__).parent
WHEELHOUSE = ROOT / "wheelhouse"
DISTRIBUTIONS = ("core", "train", "serve", "router", "quant")
#: The distributions whose tests run llama.cpp (serving GGUF, exporting and quantizing to it).
LLAMACPP_USERS = ("serve", "quant")
# CPU build of torch: an unpinned torch resolves to a multi-GB CUDA build.
TORCH = "torch==2.13.0"
TEST_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

nox.options.sessions = ["lint", "typecheck", *DISTRIBUTIONS]
nox.options.reuse_existing_virtualenvs = True


def build_wheels(session: nox.Session, dists: tuple[str, ...] = DISTRIBUTIONS) -> list[str]:
    """Build the distributions' wheels into ./wheelhouse; their paths."""
    session.install("hatchling", "pip")
    WHEELHOUSE.mkdir(exist_ok=True)
    for dist in dists:
        session.run(
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(WHEELHOUSE),
            str(ROOT / f"largeforge-{dist}"),
        )
    return [str(WHEELHOUSE / f"largeforge_{dist}-{_version(dist)}-py3-none-any.whl") for dist in dists]


def _version(dist: str) -> str:
    """The ``version`` in the distribution's pyproject.toml (the noxfile may run on Python 3.10: no tomllib)."""
    about = (ROOT / f"largeforge-{dist}" / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"$', about, re.MULTILINE)
    assert found, f"no version in largeforge-{dist}/pyproject.toml"
    return found.group(1)


def install_wheels(session: nox.Session, requirement: str, dists: tuple[str, ...]) -> None:
    """``requirement`` with its dependencies from the wheels of ``dists``, and the test tools."""
    wheels = build_wheels(session, dists)
    session.install("--find-links", str(WHEELHOUSE), requirement, "-r", "tests/requirements.txt")
    # The version does not change from one build to the next, so pip keeps what a reused
    # virtualenv already has: put this checkout's build in place.
    session.install("--no-deps", "--force-reinstall", "--quiet", *wheels)


def install_from_wheels(session: nox.Session, requirement: str, dists: tuple[str, ...] = DISTRIBUTIONS) -> None:
    session.install(TORCH)
    install_wheels(session, requirement, dists)
    session.run("largeforge", "models", "pull", "smollm2-135m-instruct", silent=True)


@nox.session(python="3.11", name="core")
def core(session: nox.Session) -> None:
    """largeforge-core alone: no torch, no siblings."""
    install_wheels(session, "largeforge-core", ("core",))
    session.run("pytest", "tests/core", *session.posargs, env=TEST_ENV)


def install_llamacpp(session: nox.Session) -> None:
    """llama.cpp's Python bindings and converter requirements in the session's virtualenv, as
    ``scripts/install.sh`` puts them in a user's (seconds once its one build is cached)."""
    session.run("bash", "scripts/install_llamacpp.sh", env={"PYTHON": f"{session.bin}/python"}, external=True)


def _sibling(session: nox.Session, dist: str) -> None:
    install_from_wheels(session, f"largeforge-core[{dist}]", ("core", dist))
    if dist in LLAMACPP_USERS:
        install_llamacpp(session)
    session.run("pytest", f"tests/{dist}", *session.posargs, env=TEST_ENV)


@nox.session(python="3.11")
def train(session: nox.Session) -> None:
    """largeforge-core[train] from wheels; tests/train."""
    _sibling(session, "train")


@nox.session(python="3.11")
def serve(session: nox.Session) -> None:
    """largeforge-core[serve] from wheels; tests/serve."""
    _sibling(session, "serve")


@nox.session(python="3.11")
def router(session: nox.Session) -> None:
    """largeforge-core[router] from wheels; tests/router."""
    _sibling(session, "router")


@nox.session(python="3.11")
def quant(session: nox.Session) -> None:
    """largeforge-core[quant] from wheels; tests/quant."""
    _sibling(session, "quant")


@nox.session(python="3.11")
def e2e(session: nox.Session) -> None:
    """Everything installed (largeforge-core[all]); tests/e2e."""
    install_from_wheels(session, "largeforge-core[all]")
    install_llamacpp(session)
    session.run("pytest", "tests/e2e", *session.posargs, env=TEST_ENV)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy over the five distributions (editable installs)."""
    session.install(TORCH)
    for dist in DISTRIBUTIONS:
        session.install("-e", f"largeforge-{dist}")
    session.install("mypy", "types-PyYAML")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run every benchmark; figures land in benchmarks/results/."""
    install_from_wheels(session, "largeforge-core[all]")
    session.install("pydantic")
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        session.run("python", str(script), env=TEST_ENV)


@nox.session(python="3.11")
def demo(session: nox.Session) -> None:
    """The README's main job in a fresh virtualenv."""
    install_from_wheels(session, "largeforge-core[all]")
    session.run("bash", "scripts/quickstart.sh", "--no-install", external=True, env=TEST_ENV)
