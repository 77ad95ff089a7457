"""Readers for the QA file formats prepare accepts: SQuAD-style JSON, JSON Lines, CSV and TSV.

Each reader turns one file into `RawRecord`s (one per question). A problem with the whole file
(bad bytes, malformed JSON, an unknown schema) raises `FileProblem`; problems of one record are
judged later by prepare, which knows the on_error policy.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t"}
DATA_SUFFIXES = JSON_SUFFIXES + JSONL_SUFFIXES + tuple(TABLE_SUFFIXES)
PASSAGE_COLUMNS = ("context", "passage")


@dataclass
class RawRecord:
    """One question as found in a file, before normalisation."""

    question: Any
    passage: Any
    answer: str | None
    original_id: str
    title: str
    where: str  # where in the file: "data[0].paragraphs[1].qas[2]", "line 7", "row 3"
    problem: str | None = None  # set by the reader when the record itself is malformed
    entry: str = ""  # the passage entry it belongs to ("data[0].paragraphs[1]"); flat files: none


class FileProblem(Exception):
    """A whole file cannot be read. `reason` is a short key used in the counts."""

    def __init__(self, reason: str, message: str, fix: str) -> None:
        self.reason, self.message, self.fix = reason, message, fix
        super().__init__(message)


def normalize(text: str) -> str:
    """Unicode NFC with all runs of whitespace folded to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _link_problem(path: Path) -> str | None:
    """'broken_symlink' or 'symlink_loop' for a link that leads nowhere, else None."""
    try:
        path.stat()
    except FileNotFoundError:
        return "broken_symlink"
    except OSError as exc:
        return "symlink_loop" if exc.errno == errno.ELOOP else "unreadable_file"
    return None


def list_files(folder: Path) -> tuple[list[Path], list[Path], list[tuple[Path, str]]]:
    """Everything under `folder`, recursively and sorted: (data files, other files and linked folders (listed,
    not read), links that lead nowhere with their reason). Hidden names are left out."""
    data, other, bad = [], [], []
    for root, dirs, files in os.walk(folder):  # links to folders are not followed (no loops)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            path = Path(root) / name
            if name.startswith("."):
                continue
            problem = _link_problem(path) if path.is_symlink() else None
            if problem:
                bad.append((path, problem))
            elif path.is_dir():
                other.append(path)
            else:
                (data if path.suffix.lower() in DATA_SUFFIXES else other).append(path)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    return sorted(data), sorted(other), sorted(bad)


def read_records(path: Path) -> list[RawRecord]:
    """Read every question record of one data file."""
    text = _decode(path)
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        return list(_squad_records(_parse_json(text)))
    if suffix in JSONL_SUFFIXES:
        return list(_jsonl_records(text))
    return list(_table_records(text, TABLE_SUFFIXES[suffix]))


def _decode(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileProblem(
            "unreadable_file", f"cannot be read: {exc.strerror}", "make it readable for you (chmod u+r), or remove it"
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileProblem(
            "not_utf8",
            f"byte {exc.start} (line {line}) is not valid UTF-8",
            "re-save the file as UTF-8 (for example: iconv -f <its encoding> -t UTF-8)",
        ) from None


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    raise FileProblem(
        "malformed_json", f"malformed JSON at {where}", "fix the JSON syntax (python -m json.tool FILE shows the spot)"
    )


def _bad_schema(detail: str) -> FileProblem:
    return FileProblem(
        "bad_schema",
        f"not SQuAD-style JSON: {detail}",
        'use {"data": [{"title": ..., "paragraphs": [{"context": ..., "qas": [{"id": ..., "question": ...}]}]}]}, '
        "or JSON Lines / CSV / TSV with question and context columns",
    )


def _squad_records(doc: Any) -> Iterator[RawRecord]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise _bad_schema('the top level needs a "data" list')
    for a, article in enumerate(doc["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise _bad_schema(f'data[{a}] needs a "paragraphs" list')
        title = article.get("title")
        title = title if isinstance(title, str) else ""
        for p, para in enumerate(article["paragraphs"]):
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                raise _bad_schema(f'data[{a}].paragraphs[{p}] needs a "qas" list')
            context = para.get("context")
            for q, qa in enumerate(para["qas"]):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                if not isinstance(qa, dict):
                    yield RawRecord(None, context, None, "", title, where, problem="bad_record")
                    continue
                yield RawRecord(
                    qa.get("question"),
                    context,
                    _first_answer(qa.get("answers")),
                    str(qa.get("id", "")),
                    title,
                    where,
                    entry=f"data[{a}].paragraphs[{p}]",
                )


def _first_answer(answers: Any) -> str | None:
    if isinstance(answers, list):
        for ans in answers:
            if isinstance(ans, dict) and isinstance(ans.get("text"), str) and ans["text"].strip():
                return ans["text"]
    return None


def _flat_record(row: dict, where: str) -> RawRecord:
    passage = next((row[c] for c in PASSAGE_COLUMNS if c in row), None)
    answer = row.get("answer")
    if isinstance(answer, dict):
        answer = answer.get("text")
    title = row.get("title")
    return RawRecord(
        row.get("question"),
        passage,
        answer if isinstance(answer, str) and answer.strip() else None,
        str(row.get("id", "")),
        title if isinstance(title, str) else "",
        where,
    )


def _jsonl_records(text: str) -> Iterator[RawRecord]:
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit inside a string
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RawRecord(None, None, None, "", "", f"{where} ({exc.msg})", problem="malformed_json")
            continue
        if not isinstance(row, dict) or "question" not in row:
            yield RawRecord(None, None, None, "", "", where, problem="bad_record")
            continue
        yield _flat_record(row, where)


def _table_records(text: str, delimiter: str) -> Iterator[RawRecord]:
    """CSV (RFC 4180 quoting, strict: a quote left open is an error, not rows merged) or TSV (one line, one record)."""
    csv.field_size_limit(2**31 - 1)  # long passages are judged by prepare's max_passage_chars, not here
    rows = _tsv_rows(text) if delimiter == "\t" else _csv_rows(text)
    header_row = next(rows, None)
    header = [h.strip().lower() for h in (header_row[1] if header_row else [])]
    if "question" not in header or not any(c in header for c in PASSAGE_COLUMNS):
        raise FileProblem(
            "bad_schema",
            f"the header {header or '(empty)'} lacks a 'question' column and a 'context' or 'passage' column",
            "add a header row: question,context[,answer][,id][,title]",
        )
    unit = "line" if delimiter == "\t" else "row"
    for n, fields in rows:
        where = f"{unit} {n}"
        if len(fields) != len(header):
            row_id = fields[header.index("id")] if "id" in header and header.index("id") < len(fields) else ""
            yield RawRecord(
                None,
                None,
                None,
                row_id,
                "",
                f"{where} ({len(header)} columns, {len(fields)} fields)",
                problem="wrong_field_count",
            )
            continue
        yield _flat_record(dict(zip(header, fields)), where)


def _csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of each non-empty CSV row; the header is row 1."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    n = 0
    try:
        for row in reader:
            if row:
                n += 1
                yield n, row
    except csv.Error as exc:
        raise FileProblem(
            "malformed_table",
            f"unreadable table near row {n + 1}: {exc}",
            'fix the quoting: a field holding a comma, a quote or a line break is quoted ("..."), '
            'with each quote inside doubled ("")',
        ) from None


def _tsv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-empty TSV line. A field quoted CSV-style within its line (as Excel and
    pandas write one holding a tab or a quote) is unquoted; any other quote is text. No field spans lines."""
    for n, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit inside a field
        line = line.removesuffix("\r")
        if not line:
            continue
        try:
            fields = next(csv.reader([line], delimiter="\t", strict=True))
        except csv.Error:  # a quote that does not open and close a whole field: text, as it stands
            fields = line.split("\t")
        yield n, fields
