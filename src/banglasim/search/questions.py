"""Questions as text: the one check that search, `--batch` and serve apply, and reading and printing them safely.

A question is refused (the CLI's `error:` and exit 2, a batch line's "error", serve's 400) when it is not valid
text (a lone surrogate: bytes that were not UTF-8 on the command line or from JSON), when nothing but white
space and invisible characters is left, or when it is longer than the cap after trimming. A question of only
emoji, punctuation or another script is asked: BM25 finds no word in it, so hybrid search ranks it by the
dense model alone and says so (`--mode bm25` answers that it cannot rank it).
"""

from __future__ import annotations

import codecs
import os
import sys
import unicodedata
from collections.abc import Iterable, Iterator

INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # controls, format characters (ZWJ, ZWSP, BOM), spaces
NOT_VALID = "the question is not valid text"


def _bad_character(question: str, at: int) -> str:
    code = ord(question[at])
    what = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"a lone surrogate U+{code:04X}"
    return f"{NOT_VALID}: {what} at character {at + 1} is not UTF-8"


def check_question(question: str, max_chars: int | None = None) -> str | None:
    """Why a question cannot be asked, or None (see the module text). Its length is measured after trimming."""
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:
        return _bad_character(question, exc.start)
    text = question.strip()
    if all(unicodedata.category(ch) in INVISIBLE for ch in text):
        return "the question is empty" + (" (only invisible characters)" if text else "")
    if max_chars is not None and len(text) > max_chars:
        return f"the question is {len(text)} characters long, more than {max_chars}"
    return None


def printable(text: str) -> str:
    """`text` with any lone surrogate (bytes that were not UTF-8) shown as U+FFFD, so that it can be written out."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def decode_lines(raw: Iterable[bytes | str]) -> Iterator[str]:
    """Lines of a batch file: split at "\\n" only (a stray "\\r" stays in its line), one "\\r\\n" or "\\n" ending
    removed, a leading UTF-8 BOM dropped; bytes that are not UTF-8 are kept as lone surrogates, which
    check_question turns into that line's error (the lines around it are answered)."""
    for number, line in enumerate(raw, 1):
        data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
        if number == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8) :]
        data = data[:-1] if data.endswith(b"\n") else data
        data = data[:-1] if data.endswith(b"\r") else data
        yield data.decode("utf-8", "surrogateescape")


def stdout_takes_unicode() -> bool:
    """Whether standard output can print Bengali; if it cannot (PYTHONIOENCODING=ascii, a C locale), it is set to
    escape what it cannot print instead of failing, and JSON should be written with ensure_ascii."""
    try:
        "বাংলা".encode(sys.stdout.encoding or "utf-8")
        return True
    except (UnicodeEncodeError, LookupError):
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="backslashreplace")
        return False


def silence_stdout() -> None:
    """After a reader closed the pipe (`| head -1`): send what is left to /dev/null, so that Python's own flush at
    exit reports nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's captured output)
        pass
