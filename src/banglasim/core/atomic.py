"""Atomic outputs: write beside the target, then rename, so a killed stage never leaves half a file.

Temporary names carry the writer's PID (`.NAME.tmp-PID-XXXX`): a writer first removes the leftovers
of writers that are gone (a killed stage), never those of a live one. Outputs get the permissions a
plain `open()`/`mkdir` would give under the user's umask, not the 0600/0700 of temp files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Delete `.NAME.tmp-PID-*` / `.NAME.old-PID` leftovers beside `target` whose writer PID is gone."""
    removed = []
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for path in target.parent.glob(pattern):
            pid = path.name.rsplit(".", 1)[-1].split("-")[1]
            if not pid.isdigit() or not pid_alive(int(pid)):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-{os.getpid()}-"


@contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `target`, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
    try:
        yield tmp
        fix_permissions(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, target)


def replace_dir(new: Path, target: Path) -> None:
    """Put the folder `new` at `target`, moving an existing `target` aside first and deleting it after."""
    remove_stale_temps(target)
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
    if target.exists():
        os.replace(target, old)  # renaming a folder onto an empty one is allowed
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def sync_tree(path: Path) -> None:
    """fsync every file under `path` and the folders themselves, so that a rename after it publishes whole files."""
    for item in sorted(path.rglob("*"), key=lambda p: -len(p.parts)) + [path]:
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fix_permissions(path: Path) -> None:
    """Give `path` (and everything under a folder) the modes a normal mkdir/open would under the umask."""
    mask = _umask()
    items = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in items:
        if not item.is_symlink():
            os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file in the same folder, fsync, rename)."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file atomically (temp file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        fix_permissions(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:  # a failed write() or fsync() names no file: name the one being written
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def json_text(data: Any) -> str:
    """JSON as this project writes it: UTF-8, indented, keys in the given order; NaN and inf refused."""
    return json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically."""
    write_text(path, json_text(data))


def jsonl_text(rows: Iterable[dict]) -> str:
    """Rows as JSON Lines text."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSON Lines file written by this project."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
