"""``python3 -m gpu_check`` (with ``scripts`` on ``PYTHONPATH``; ``scripts/gpu_check.sh`` sets it).

Here, with the package registry:  ``build``, ``verify`` (the dry run), ``plan``.
On the GPU machine:              ``stash`` (each call but the last), ``run`` (the last).
Inside the check:                ``part NAME``, ``cli --probe FILE -- ARGS`` (largeforge in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gpu_check import bundle
from gpu_check.common import Context

ROOT = Path(__file__).resolve().parents[2]
#: Where the bundle and the stash are (GPU_CHECK_BUNDLE / GPU_CHECK_STASH move them).
DEFAULT_BUNDLE = Path(os.environ.get("GPU_CHECK_BUNDLE") or ROOT / "gpu_check_bundle")
DEFAULT_STASH = Path(os.environ.get("GPU_CHECK_STASH") or ROOT / "gpu_check_stash")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpu_check", description="The GPU check (README: GPU check).")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the bundle: wheels + data in loads (needs the package registry)")
    b.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "largeforge" / "gpu-wheels")
    b.add_argument("--image", type=Path, default=Path(__file__).with_name("image_packages.txt"))
    b.add_argument("--identity", type=Path, default=None, help="identity.json with {{name}}/{{author}} placeholders")
    b.add_argument("--load-mib", type=int, default=56, help="largest load (a call carries 64 MiB with the tree)")
    v = sub.add_parser("verify", help="the bundle installs offline for the GPU's Python, and imports")
    v.add_argument("--python312", default=None, help="a CPython 3.12 for the import check")
    sub.add_parser("plan", help="print the parts and the device calls")
    sub.add_parser("stash", help="GPU machine: keep this call's loads for the next call")
    r = sub.add_parser("run", help="GPU machine: join the loads, install, run every part")
    r.add_argument("--out", type=Path, default=ROOT / "gpu_check_out")
    r.add_argument("--budget", type=float, default=None, help="seconds for all parts (default 450)")
    r.add_argument("--only", default="", help="comma-separated parts")
    p = sub.add_parser("part", help="(internal) run one part in this process")
    p.add_argument("name")
    c = sub.add_parser("cli", help="(internal) largeforge in this process, with a probe file")
    c.add_argument("--probe", type=Path, required=True)
    c.add_argument("args", nargs=argparse.REMAINDER)
    for each in (b, v, sub.choices["plan"], sub.choices["stash"], r, p):
        each.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    for each in (sub.choices["stash"], r, p):
        each.add_argument("--stash", type=Path, default=DEFAULT_STASH)
    for each in (r, p):
        each.add_argument("--work", type=Path, default=Path("/tmp/largeforge-gpu-check"))
        each.add_argument("--repo", type=Path, default=ROOT)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "cli":
        from gpu_check.driver import cli

        return cli(args.probe, args.args[1:] if args.args[:1] == ["--"] else args.args)
    try:
        if args.command == "build":
            manifest = bundle.build(
                args.bundle, cache=args.cache, image_file=args.image, identity=args.identity, load_mib=args.load_mib
            )
            print(f"bundle {args.bundle}: " + "\n".join(bundle.describe(manifest)))
        elif args.command == "verify":
            from gpu_check.install_check import verify

            return verify(args.bundle, args.python312)
        elif args.command == "plan":
            from gpu_check.driver import plan

            manifest_file = args.bundle / "manifest.json"
            print("\n".join(plan(json.loads(manifest_file.read_text()) if manifest_file.is_file() else None)))
        elif args.command == "stash":
            moved = bundle.stash(args.bundle, args.stash)
            print(f"kept for the next call: {', '.join(moved) or 'nothing (no load carried?)'}")
            return 0 if moved else 1
        else:
            from gpu_check import driver

            ctx = Context(
                repo=args.repo.resolve(),
                bundle=args.bundle.resolve(),
                stash=args.stash.resolve(),
                work=args.work.resolve(),
            )
            if args.command == "part":
                return driver.run_one(ctx, args.name)
            only = [n for n in args.only.split(",") if n]
            return driver.run(ctx, args.out.resolve(), args.budget or driver.BUDGET_S, only)
    except bundle.BundleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
