"""File integrity of the export and index folders: what their manifests record, what start and `banglasim verify` check.

Each manifest.json holds a `files` map, {name: {"size", "sha256", "sample_sha256"}}, over every other file of
its folder (so a file added to a folder later is covered without code here). Two checks read it:

- at start (`quick_check`, every search and serve): each file's size, the full sha256 of files up to
  FULL_AT_START bytes, and for bigger ones a sample hash (export/files.py: SAMPLE_BLOCKS blocks of BLOCK bytes
  spread evenly over the file, first and last included). It reads at most FULL_AT_START bytes per file.
- `banglasim verify` (`full_check`): the full sha256 of every file, which costs one read of every byte.

A sample hash catches any change of size and any overwrite longer than the gap between two blocks
(size / SAMPLE_BLOCKS); a smaller edit of a big file is caught only by `banglasim verify`. The records are
written by export/files.py (the export stage imports it; it stays out of the search package, so that search
changes do not rerun the export).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from banglasim.core.errors import UserError
from banglasim.export.files import full_sha256, sample_sha256

MANIFEST = "manifest.json"
FULL_AT_START = 16 * 1024 * 1024  # files up to 16 MiB are fully hashed at start (about 30 ms at 500 MB/s)


def safe_name(name: str) -> bool:
    """A file name relative to its folder that stays inside it (`lexical/vocab.index.json`, never `../x`)."""
    parts = name.split("/")
    return bool(name) and "\\" not in name and all(part not in ("", ".", "..") for part in parts)


def check_files_shape(files: object, where: Path, fix: str) -> dict[str, dict]:
    """The manifest's `files` map, or a UserError when it is not {name: {"size": int, "sha256": str, ...}}."""
    ok = isinstance(files, dict) and all(
        isinstance(name, str)
        and safe_name(name)
        and isinstance(rec, dict)
        and isinstance(rec.get("size"), int)
        and not isinstance(rec.get("size"), bool)
        and isinstance(rec.get("sha256"), str)
        for name, rec in files.items()
    )
    if not ok:
        raise UserError(f'{where}: damaged, "files" is not a map of file sizes and hashes', fix=fix)
    return files


def _damaged(path: Path, what: str, fix: str) -> UserError:
    return UserError(f"{path}: damaged ({what}; the folder's manifest.json says otherwise)", fix=fix)


def check_size(path: Path, size: int | None, fix: str) -> None:
    """A UserError naming the file when it is missing or not `size` bytes (None: any size)."""
    if not path.is_file():
        raise UserError(f"{path}: not found", fix=fix)
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise _damaged(path, f"{actual:,} bytes, not {size:,}", fix)


def quick_check(folder: Path, files: dict[str, dict], fix: str) -> None:
    """The start-up check: sizes, full sha256 of small files, sample hashes of big ones (see the module text)."""
    for name, rec in files.items():
        path = Path(folder) / name
        check_size(path, rec["size"], fix)
        if not rec.get("sha256"):
            continue
        if path.stat().st_size <= FULL_AT_START:
            if full_sha256(path) != rec["sha256"]:
                raise _damaged(path, "its sha256 differs", fix)
        elif rec.get("sample_sha256") and sample_sha256(path) != rec["sample_sha256"]:
            raise _damaged(path, "its sample hash differs", fix)


def full_check(folder: Path, files: dict[str, dict], fix: str) -> list[str]:
    """Every file's size and full sha256; returns one "ok" line per file, or raises a UserError naming the first bad."""
    lines = []
    for name, rec in files.items():
        path = Path(folder) / name
        check_size(path, rec["size"], fix)
        if not rec.get("sha256"):
            lines.append(f"unchecked {path} (no sha256 recorded: the folder was made before they were; {fix})")
            continue
        start = time.perf_counter()
        if full_sha256(path) != rec["sha256"]:
            raise _damaged(path, "its sha256 differs", fix)
        took = time.perf_counter() - start
        lines.append(f"ok {path} ({path.stat().st_size:,} bytes, sha256 checked in {took:.2f} s)")
    return lines


RERANKER_FIX = "rebuild it (dvc repro -f export_reranker)"


def reranker_files(folder: Path) -> dict[str, dict]:
    """The re-ranker export's recorded files (its manifest's `files` map), or a UserError naming what is wrong."""
    import json

    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read ({exc})", fix=RERANKER_FIX) from None
    files = check_files_shape(manifest.get("files") if isinstance(manifest, dict) else None, path, RERANKER_FIX)
    if "model.onnx" not in files or "tokenizer.json" not in files:
        raise UserError(f'{path}: damaged, no model.onnx or tokenizer.json in "files"', fix=RERANKER_FIX)
    return files


def verify(model: Path | None, index: Path | None, reranker: Path | None = None) -> list[str]:
    """`banglasim verify`: full hashes of the export, the index and the re-ranker export, and that the index is the
    export's."""
    from banglasim.search.encoders import export_files, export_manifest
    from banglasim.search.store import index_files, read_manifest

    lines: list[str] = []
    key = None
    if model is not None:
        manifest, key = export_manifest(Path(model))
        files, fix = export_files(Path(model), manifest)
        lines += full_check(Path(model), files, fix)
    if index is not None:
        manifest = read_manifest(Path(index))
        files, fix = index_files(Path(index), manifest)
        lines += full_check(Path(index), files, fix)
        if key is not None and manifest["export_manifest_sha256"] != key:
            raise UserError(f"{Path(index) / MANIFEST}: built with another export than {model}", fix=fix)
    if reranker is not None:
        lines += full_check(Path(reranker), reranker_files(Path(reranker)), RERANKER_FIX)
    return lines


def run_cli(args: argparse.Namespace) -> int:
    reranker = Path(args.reranker) if args.reranker and (Path(args.reranker) / MANIFEST).exists() else None
    for line in verify(Path(args.model) if args.model else None, Path(args.index) if args.index else None, reranker):
        print(line, flush=True)
    print("ok: every recorded file has its recorded size and sha256")
    return 0
