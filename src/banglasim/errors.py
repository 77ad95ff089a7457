"""The one exception type a user ever sees: a message that says what is wrong and what to do."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or bad params. The CLI prints the message (no traceback) and exits with 2."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        super().__init__(message if fix is None else f"{message}\n  fix: {fix}")
