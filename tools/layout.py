"""Measure the package layout: lines per package, the largest files, and how many
imports sit inside functions (the issue-26 before/after numbers in benchmarks/RESULTS.md).

    python tools/layout.py            # the tables, as Markdown
    python tools/layout.py --local    # also list every function-level import
"""
from __future__ import annotations

import argparse
import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLACES = ("lessons_lib", "demo")


def _files():
    for place in PLACES:
        yield from sorted((ROOT / place).rglob("*.py"))


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def local_imports(path: Path) -> list[tuple[int, str]]:
    """(line, function) of every import statement inside a function body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                if func is not None:
                    found.append((child.lineno, func))
            else:
                visit(child, func)

    visit(tree, None)
    return found


def module_imports(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    n = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            n += 1
    return n - len(local_imports(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", action="store_true", help="list every function-level import")
    ap.add_argument("--top", type=int, default=10, help="how many of the largest files")
    args = ap.parse_args()
    files = list(_files())
    per_pkg = defaultdict(lambda: [0, 0])
    for f in files:
        rel = f.relative_to(ROOT)
        pkg = str(rel.parent) if len(rel.parts) > 2 or f.name == "__init__.py" else str(rel)
        if len(rel.parts) == 2 and f.name != "__init__.py":
            pkg = str(rel)  # a top-level module is its own room
        per_pkg[pkg][0] += 1
        per_pkg[pkg][1] += _lines(f)
    print("| package or module | files | lines |\n|---|---:|---:|")
    for pkg in sorted(per_pkg):
        n, lines = per_pkg[pkg]
        print(f"| `{pkg}` | {n} | {lines:,} |")
    total = sum(v[1] for v in per_pkg.values())
    print(f"| total | {len(files)} | {total:,} |\n")
    print(f"Largest files:\n\n| file | lines |\n|---|---:|")
    for f in sorted(files, key=_lines, reverse=True)[: args.top]:
        print(f"| `{f.relative_to(ROOT)}` | {_lines(f):,} |")
    local = {f: local_imports(f) for f in files}
    n_local = sum(len(v) for v in local.values())
    n_module = sum(module_imports(f) for f in files)
    print(f"\nImport statements: {n_module} at module level, {n_local} inside functions.")
    if args.local:
        for f, hits in local.items():
            for line, func in hits:
                print(f"  {f.relative_to(ROOT)}:{line} in {func}()")


if __name__ == "__main__":
    main()
