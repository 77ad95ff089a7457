"""The one exception type a user ever sees, and the entry point that turns it into one `error:` paragraph."""

from __future__ import annotations

import errno
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class UserError(Exception):
    """Bad input, bad params or a fault the user can fix. Shown as `error: MESSAGE` and `  fix: FIX`, exit 2."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message)

    def __str__(self) -> str:
        return self.message if self.fix is None else f"{self.message}\n  fix: {self.fix}"


def require_inputs(inputs: list[tuple[Path, str]]) -> None:
    """Each (file, stage that writes it) must exist; else a UserError naming the stage to run first."""
    for path, stage in inputs:
        if not Path(path).exists():
            raise UserError(f"{path}: not found", fix=f"run the {stage} stage first (dvc repro {stage})")


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def free_space(path: str | Path) -> str:
    """'12.3 MB free' on the disk holding `path` (its nearest existing folder), or '' when that cannot be told."""
    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return f"{shutil.disk_usage(here).free / 1e6:,.1f} MB free"
    except OSError:
        return ""


def _write_failure(exc: BaseException) -> str | None:
    """What went wrong when a save raised `exc`: 'disk full', 'write failed', or None when it is no write failure.

    torch.save stops with RuntimeError "[enforce fail at inline_container.cc:...] . unexpected pos ..." (or
    "PytorchStreamWriter failed writing ...") and safetensors with its own SafetensorError "... No space left on
    device (os error 28)": neither is an OSError.
    """
    text = str(exc)
    if isinstance(exc, OSError):
        return "disk full" if exc.errno in DISK_FULL else None
    if type(exc).__name__ == "SafetensorError":
        return "disk full" if "os error 28" in text or "No space left" in text else "write failed"
    if isinstance(exc, RuntimeError) and ("inline_container" in text or "PytorchStreamWriter" in text):
        return "write failed"
    return None


@contextmanager
def saving(target: str | Path, what: str, needed_bytes: int | None = None) -> Iterator[None]:
    """Turn a failed save of `what` into `target` (full disk, or torch's and safetensors' own write errors) into a
    UserError naming the file or folder, the free space there and the space the save needs."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        kind = _write_failure(exc)
        if kind is None:
            raise
        free = free_space(target)
        need = f", about {needed_bytes / 1e6:,.1f} MB needed" if needed_bytes else ""
        detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        reason = "the disk is full" if kind == "disk full" else f"{type(exc).__name__}: {detail}"
        raise UserError(
            f"{target}: saving {what} failed ({reason}); {free or 'free space unknown'} there{need}",
            fix="free disk space (or move the repository to a larger disk), then rerun: nothing "
            "half-written is used, and training resumes from its last complete checkpoint",
        ) from None


def os_error(exc: OSError) -> UserError:
    """An OS or file error as a UserError that names the file and a likely fix (and the free space, disk full)."""
    where = f"{exc.filename}: " if exc.filename else ""
    text = str(exc.strerror or exc)
    if exc.errno in DISK_FULL and (free := free_space(exc.filename or ".")):
        text += f" ({free} on the disk of {Path(exc.filename).parent if exc.filename else Path.cwd()})"
    fixes = {
        errno.ENOSPC: "free some disk space (or point the outputs at a larger disk), then rerun",
        errno.EDQUOT: "free some disk space within your quota, then rerun",
        errno.EACCES: "give yourself access to that file or folder (chmod u+rw, or u+rwx for a folder), "
        "or run from a copy you own",
        errno.EPERM: "give yourself access to that file or folder, or run from a copy you own",
        errno.EROFS: "the file system is read-only: run from a writable copy of the repository",
    }
    return UserError(f"{where}{text}", fix=fixes.get(exc.errno, "check the file and its folder"))


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn OSError into UserError, so file faults get the same one-paragraph message as bad input."""
    try:
        yield
    except OSError as exc:
        raise os_error(exc) from None


def exit_code(action: Callable[[], object]) -> int:
    """Run `action`: 0 on success, 2 with an `error:` paragraph on UserError/OSError, 130 on Ctrl-C."""
    try:
        with user_errors():
            result = action()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0
