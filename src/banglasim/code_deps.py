"""Which source files a stage runs: the package modules its module imports, followed transitively.

One definition of "the stage's code" serves two purposes: dvc.yaml lists exactly these files as the
stage's deps (a test checks it), and the train stage's resume key hashes them.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "banglasim"
PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(name: str) -> Path | None:
    """The file of a package module given its dotted name, or None when it is not one of ours."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    path = PACKAGE_DIR.joinpath(*parts[1:])
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_modules(file: Path) -> set[str]:
    """Dotted names of the package modules a file imports anywhere (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"), filename=str(file))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if _module_file(n) is not None)
    return found


def module_closure(module: str) -> list[Path]:
    """Files of `module` and of every package module it imports, directly or not, with the package __init__."""
    todo, seen = [module, PACKAGE], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = _module_file(name)
        if file is not None:
            todo.extend(imported_modules(file) - seen)
    return sorted(f for f in map(_module_file, seen) if f is not None)


def stage_code(stage_module: str) -> list[str]:
    """The closure of `banglasim.<stage_module>` as repository-relative paths, as dvc.yaml lists them."""
    root = PACKAGE_DIR.parent.parent
    return [f.relative_to(root).as_posix() for f in module_closure(f"{PACKAGE}.{stage_module}")]


if __name__ == "__main__":  # python -m banglasim.code_deps train: the deps block dvc.yaml needs for a stage
    import sys

    for stage in sys.argv[1:]:
        print(f"{stage}:\n" + "\n".join(f"  - {path}" for path in stage_code(stage)))
