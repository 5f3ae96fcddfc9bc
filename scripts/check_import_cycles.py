"""Fail when the import graph of the five distributions has a cycle.

Every ``import`` and ``from … import`` of a ``largeforge*`` module counts, at module level or inside
a function (an import inside a function hides a dependency, it does not remove it); imports under
``if TYPE_CHECKING:`` do not (they never run). Cycles that existed when this check was added are
listed in ``KNOWN`` and reported as debt; any other cycle fails the check.

    python scripts/check_import_cycles.py [--list]
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Cycles present when the check was added (each as its sorted modules): debt to remove, listed so
#: that any other cycle fails. All have been removed; keep it empty.
KNOWN: set[tuple[str, ...]] = set()


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Module name → file, for every module of the distributions under ``root``."""
    found = {}
    for src in sorted(root.glob("largeforge-*/src")):
        for path in src.rglob("*.py"):
            parts = path.relative_to(src).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (resolved to the deepest existing module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        if _type_checking_only(node, parents):
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and not name.startswith(candidate + "."):
                targets.add(candidate)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="Print every cycle, known ones included.")
    parser.add_argument("--root", type=Path, default=ROOT, help="The repository to check.")
    args = parser.parse_args()
    known = modules(args.root)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    found = cycles(graph)
    new = [c for c in found if tuple(c) not in KNOWN]
    for component in found if args.list else new:
        print(("known cycle: " if tuple(component) in KNOWN else "import cycle: ") + " ↔ ".join(component))
    print(f"{len(known)} modules, {len(found)} cycles ({len(found) - len(new)} known, {len(new)} new)")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
