"""The dry run's checks: the bundle installs without network, as it will on the GPU machine.

1. **offline install for the target**: the loads are joined as the GPU machine joins them, and
   every wheel is installed with ``pip install --no-index --no-deps --target`` for CPython 3.12
   manylinux x86-64 (pip refuses a wheel whose tags do not fit, or two versions of one package).
2. **imports under CPython 3.12** (when one is here: ``python3.12`` or ``--python312``): each
   wheel's top-level modules and the project's plugin modules are imported from that target
   folder. A module may stop at a package the GPU image provides (torch, typer...): that is
   expected here; a missing module that neither the bundle nor the image has is a hole.
3. **the project's wheels on this Python**: a fresh ``venv --system-site-packages`` gets the five
   wheels with ``--no-index --no-deps``; their modules load from the venv and
   ``largeforge plugins --json`` loads every plugin through its entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from gpu_check import bundle
from gpu_check import wheelhouse as wh

#: Import names of image packages whose distribution name does not say them.
IMPORT_NAMES = {
    "pyyaml": "yaml",
    "pillow": "PIL",
    "scikit-learn": "sklearn",
    "scikit-image": "skimage",
    "opencv-python-headless": "cv2",
    "python-dateutil": "dateutil",
    "protobuf": "google",
    "py-cpuinfo": "cpuinfo",
    "nvidia-ml-py": "pynvml",
    "absl-py": "absl",
    "attrs": "attr",
    "markdown-it-py": "markdown_it",
    "cupy-cuda13x": "cupy",
    "pyre-extensions": "pyre_extensions",
}
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
results = {}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
        results[name] = ["ok", ""]
    except ModuleNotFoundError as exc:
        results[name] = ["missing", exc.name or str(exc)]
    except BaseException as exc:
        results[name] = ["error", f"{type(exc).__name__}: {exc}"[:300]]
print(json.dumps(results))
"""


def image_modules(image: dict[str, str | None]) -> set[str]:
    """Top-level import names the GPU image provides (best effort from distribution names)."""
    names = {IMPORT_NAMES.get(n, n.replace("-", "_")) for n in image}
    return names | {"attrs", "nvidia"}


def wheel_modules(wheel: Path) -> list[str]:
    """Top-level packages and modules a wheel installs, and the modules its ``largeforge`` entry
    points name (the plugins)."""
    modules: set[str] = set()
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            head, _, rest = name.partition("/")
            if rest == "__init__.py" or (not rest and head.endswith(".py") and not head.startswith("_")):
                modules.add(head.removesuffix(".py"))
            elif name.endswith(".dist-info/entry_points.txt"):
                group = ""
                for line in archive.read(name).decode().splitlines():
                    line = line.strip()
                    if line.startswith("["):
                        group = line.strip("[]")
                    elif group == "largeforge" and "=" in line:
                        modules.add(line.split("=", 1)[1].strip().split(":")[0])
    return sorted(modules)


def _pip(*args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-m", "pip", *args], capture_output=True, text=True)


def offline_install(wheels: list[Path], site: Path) -> dict[str, Any]:
    """Check 1: ``--no-index --no-deps --target`` for the GPU's Python; one dist-info per wheel."""
    platforms = [arg for p in wh.PLATFORMS for arg in ("--platform", p)]
    result = _pip(
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        *platforms,
        "--target",
        str(site),
        *map(str, wheels),
    )
    installed = sorted(p.name for p in site.glob("*.dist-info"))
    ok = result.returncode == 0 and len(installed) == len(wheels)
    return {
        "ok": ok,
        "summary": f"{len(installed)} of {len(wheels)} wheels installed for CPython 3.12 manylinux x86-64",
        "error": "" if ok else (result.stderr.strip()[-800:] or "a wheel did not install"),
    }


def find_python312(given: str | None) -> str | None:
    """A CPython 3.12 to import with: ``given``, else ``python3.12`` on PATH or a pyenv one."""
    pyenv = sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for candidate in [given] if given else ["python3.12", *pyenv]:
        path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if path:
            probe = subprocess.run(
                [path, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"], capture_output=True, text=True
            )
            if probe.stdout.strip() == "True":
                return path
    return None


def import_check(python: str, wheels: list[Path], site: Path, image: dict[str, str | None]) -> dict[str, Any]:
    """Check 2: import each wheel's modules under CPython 3.12 from the target folder."""
    # A wheel installed without its dependencies is there for its data (the model's GGUF file).
    data_only = [w for w in wheels if wh.parse_wheel_filename(w.name)[0] in wh.NO_DEPS]
    modules = sorted({m for w in wheels if w not in data_only for m in wheel_modules(w)})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-s", "-c", PROBE, str(site), json.dumps(modules)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if result.returncode != 0:
        return {"ok": False, "error": result.stderr.strip()[-800:]}
    outcome = json.loads(result.stdout)
    provided = image_modules(image)
    ok_list, image_stops, holes = [], {}, {}
    for module, (status, detail) in sorted(outcome.items()):
        if status == "ok":
            ok_list.append(module)
        elif status == "missing" and detail.split(".")[0] in provided:
            image_stops[module] = detail.split(".")[0]
        else:
            holes[module] = detail
    return {
        "ok": not holes,
        "summary": f"{len(ok_list)} modules imported, {len(image_stops)} stop at a package of the GPU image, "
        f"{len(holes)} missing",
        "imported": ok_list,
        "stopped_at_image_package": image_stops,
        "holes": holes,
        "not_imported": [w.name for w in data_only],
    }


def project_venv_check(wheels: list[Path], venv: Path) -> dict[str, Any]:
    """Check 3: the five project wheels in a fresh venv of this Python; plugins load from it."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    result = _pip(
        "install",
        "--quiet",
        "--no-index",
        "--no-deps",
        "--ignore-installed",
        "--no-compile",
        *map(str, wheels),
        python=python,
    )
    if result.returncode != 0:
        return {"ok": False, "error": result.stderr.strip()[-800:]}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = (
        "import json, largeforge, largeforge_train, largeforge_serve, largeforge_router, largeforge_quant as q;"
        "print(json.dumps({m.__name__: m.__file__ for m in (largeforge, largeforge_train, largeforge_serve, "
        "largeforge_router, q)}))"
    )
    files = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env)
    plugins = subprocess.run(
        [str(venv / "bin" / "largeforge"), "plugins", "--json"], capture_output=True, text=True, env=env
    )
    if files.returncode != 0 or plugins.returncode != 0:
        return {"ok": False, "error": (files.stderr + plugins.stderr).strip()[-800:]}
    where = json.loads(files.stdout)
    outside = [m for m, f in where.items() if not Path(f).resolve().is_relative_to(venv.resolve())]
    loaded = {p["name"]: p["status"] for p in json.loads(plugins.stdout)["plugins"]}
    ok = not outside and all(loaded.get(n) == "loaded" for n in bundle.DISTS)
    summary = f"plugins {', '.join(n for n, s in loaded.items() if s == 'loaded')} loaded from the venv's wheels"
    return {"ok": ok, "summary": summary, "modules_outside_venv": outside, "plugins": loaded}


def verify(bundle_dir: Path, python312: str | None) -> int:
    """Run the checks on the bundle in ``bundle_dir``; one line each (details in its ``dry_run.json``);
    0 when all hold."""
    with tempfile.TemporaryDirectory(prefix="gpu-dry-run-") as tmp:
        work = Path(tmp)
        try:
            manifest = bundle.assemble(bundle_dir, work / "no-stash", work / "bundle")
        except bundle.BundleError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        wheels = sorted((work / "bundle" / "content" / "wheels").glob("*.whl"))
        joined = f"{len(manifest['wheels'])} wheels, SHA-256 checked"
        results: dict[str, Any] = {"loads_joined": {"ok": True, "summary": joined}}
        results["offline_install"] = offline_install(wheels, work / "site")
        python = find_python312(python312)
        if python is None:
            results["imports_py312"] = {"ok": True, "skipped": "no CPython 3.12 here (python3.12 / --python312)"}
        elif results["offline_install"]["ok"]:
            results["imports_py312"] = import_check(python, wheels, work / "site", wh.load_image())
        project = [w for w in wheels if w.name.startswith("largeforge_")]
        results["project_wheels"] = project_venv_check(project, work / "venv")
    for name, result in results.items():
        detail = result.get("error") or result.get("skipped") or result.get("summary", "")
        print(f"{'ok  ' if result['ok'] else 'FAIL'} {name} {detail}".rstrip())
        for module, missing in result.get("holes", {}).items():
            print(f"     {module}: needs {missing}, which neither the bundle nor the GPU image has")
    (bundle_dir / "dry_run.json").write_text(json.dumps(results, indent=1))
    print(f"details: {bundle_dir / 'dry_run.json'}")
    return 0 if all(r["ok"] for r in results.values()) else 1
