"""Which code a stage runs: the subpackages its module imports, followed transitively.

One definition of "the stage's code" serves two purposes: dvc.yaml lists exactly these folders as the
stage's deps (a test checks it), and the train stage's resume key hashes their Python files. The
package's top level (`__init__`, `cli`, `stages`, `__main__`) only dispatches to a stage and is not a dep.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "banglasim"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parents[1]


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
    """Files of `module` and of every package module it imports, directly or not."""
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = _module_file(name)
        if file is not None:
            todo.extend(imported_modules(file) - seen)
    return sorted(f for f in map(_module_file, seen) if f is not None)


def code_folders(module: str) -> list[str]:
    """The subpackage folders holding `module`'s closure, repository-relative, as dvc.yaml lists them."""
    folders = {f.parent for f in module_closure(module) if f.parent != PACKAGE_DIR}
    return sorted(f.relative_to(REPO_ROOT).as_posix() for f in folders)


def code_digest(folders: list[str]) -> str:
    """sha256 over the names and bytes of the Python files of these folders (no caches, no data)."""
    h = hashlib.sha256()
    for folder in sorted(folders):
        base = REPO_ROOT / folder
        for path in sorted(base.rglob("*.py")):
            h.update(f"{folder}/{path.relative_to(base).as_posix()}".encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


if __name__ == "__main__":  # python -m banglasim.runs.code_deps train: the code deps dvc.yaml needs for a stage
    import sys

    from banglasim.stages import STAGES

    for command in sys.argv[1:]:
        print(f"{command}:\n" + "\n".join(f"  - {path}" for path in code_folders(STAGES[command][0])))
