"""Writing test input files: JSON, JSON Lines and CSV/TSV tables, optionally with a UTF-8 BOM."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any


def write_json(path: Path, doc: Any, *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def write_jsonl(path: Path, rows: list[Any], *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_table(path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter="\t" if path.suffix == ".tsv" else ",", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path
