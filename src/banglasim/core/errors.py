"""The one exception type a user ever sees, and the entry point that turns it into one `error:` paragraph."""

from __future__ import annotations

import errno
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


def os_error(exc: OSError) -> UserError:
    """An OS or file error as a UserError that names the file and a likely fix."""
    where = f"{exc.filename}: " if exc.filename else ""
    fixes = {
        errno.ENOSPC: "free some disk space (or point the outputs at a larger disk), then rerun",
        errno.EDQUOT: "free some disk space within your quota, then rerun",
        errno.EACCES: "give yourself access to that file or folder (chmod u+rw, or u+rwx for a folder), "
                      "or run from a copy you own",
        errno.EPERM: "give yourself access to that file or folder, or run from a copy you own",
        errno.EROFS: "the file system is read-only: run from a writable copy of the repository",
    }
    return UserError(f"{where}{exc.strerror or exc}", fix=fixes.get(exc.errno, "check the file and its folder"))


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
