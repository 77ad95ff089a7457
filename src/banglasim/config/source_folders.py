"""What DVC needs of data.sources before any stage runs: the right shape, and every file of each folder readable.

DVC resolves dvc.yaml's `foreach: ${data.sources}` before any stage runs, and hashes each source folder
(the dep of its `ingest@NAME` stage) before ingest reads it: a wrong shape, a broken link, a link loop or an
unreadable file stops DVC with its own message (`Could not find 'key'`, `[Errno 40] Too many levels of symbolic
links`, ...), whatever prepare.on_error says. check_params, the first stage (also run by `make repro` before
DVC), finds these first and names the file and the fix.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from banglasim.core.errors import UserError

SHAPE = "a mapping of source names to folders, e.g.\n    data:\n      sources:\n        D2: data/raw/D2/BanQA/data"
MAX_LISTED = 5  # problems named in one message


def check_sources_shape(sources: Any, params_path: str | Path) -> None:
    """data.sources must be {name: folder}; the old list form and other shapes get the shape spelled out."""
    if isinstance(sources, list):
        raise UserError(
            f"{params_path}: param data.sources is a list (the format before one ingest stage per "
            "source); it must be " + SHAPE,
            fix="give each folder a name (letters, digits, '_' or '-'): the stage is ingest@NAME",
        )
    if not isinstance(sources, dict):
        raise UserError(
            f"{params_path}: param data.sources = {sources!r} is not a mapping; it must be " + SHAPE,
            fix="write one `NAME: folder` line per source under data.sources",
        )
    for name, folder in sources.items():
        if not isinstance(folder, str) or not folder.strip():
            raise UserError(
                f"{params_path}: param data.sources.{name} = {folder!r} is not a folder path",
                fix="write the folder as text, e.g. D2: data/raw/D2/BanQA/data",
            )


def _file_problem(path: Path) -> str | None:
    """Why DVC could not hash this directory entry (os.walk lists it as a file), or None."""
    try:
        path.stat()  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link loop (the link leads back to itself)"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return f"a broken link (it points to '{os.readlink(path)}', which does not exist)"
        return exc.strerror or str(exc)
    if path.is_file():
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
    return None


def unreadable_entries(folder: str | Path) -> list[tuple[Path, str]]:
    """Every entry of `folder` DVC cannot hash, with the reason: walked as DVC walks it (links to folders not
    followed, hidden names included), sorted."""
    problems: list[tuple[Path, str]] = []

    def folder_error(exc: OSError) -> None:
        problems.append((Path(exc.filename), f"a folder that cannot be listed ({exc.strerror or exc})"))

    for root, dirs, files in os.walk(folder, onerror=folder_error):
        dirs.sort()
        for name in sorted(files):
            problem = _file_problem(Path(root) / name)
            if problem:
                problems.append((Path(root) / name, problem))
    return sorted(problems)


def check_source_folders(sources: dict[str, str], params_path: str | Path) -> None:
    """Every file of every source folder must be readable by DVC; else one error naming the files."""
    for name, folder in sources.items():
        problems = unreadable_entries(folder)
        if not problems:
            continue
        listed = "\n".join(f"    {path}: {why}" for path, why in problems[:MAX_LISTED])
        more = f"\n    ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise UserError(
            f"{params_path}: source folder data.sources.{name} = '{folder}' holds {len(problems)} entr"
            f"{'y' if len(problems) == 1 else 'ies'} DVC cannot read:\n{listed}{more}",
            fix="DVC hashes every file of a source folder before ingest runs, so prepare.on_error: skip cannot "
            "skip these: remove or repair each link, make each file readable (chmod a+r), or move it out "
            "of the folder",
        )
