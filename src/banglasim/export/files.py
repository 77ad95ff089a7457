"""The size and hashes of the files of a folder, as the export and index manifests record them under `files`.

Each record is {"size", "sha256", "sample_sha256"}: the full sha256, and a sample hash of SAMPLE_BLOCKS blocks
of BLOCK bytes spread evenly over the file (first and last included; the whole of a small file), which search
checks at start (search/integrity.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from banglasim.models.folder import file_sha256 as full_sha256  # one chunked sha256 for every file the project hashes

MANIFEST = "manifest.json"
BLOCK = 64 * 1024
SAMPLE_BLOCKS = 32


def sample_sha256(path: Path) -> str:
    """sha256 of the size and SAMPLE_BLOCKS blocks of BLOCK bytes spread evenly over the file (all of a small one)."""
    size = Path(path).stat().st_size
    h = hashlib.sha256(str(size).encode() + b"\0")
    with open(path, "rb") as fh:
        if size <= SAMPLE_BLOCKS * BLOCK:
            h.update(fh.read())
            return h.hexdigest()
        step = (size - BLOCK) / (SAMPLE_BLOCKS - 1)
        for i in range(SAMPLE_BLOCKS):
            fh.seek(round(i * step))
            h.update(fh.read(BLOCK))
    return h.hexdigest()


def file_record(path: Path) -> dict:
    return {"size": Path(path).stat().st_size, "sha256": full_sha256(path), "sample_sha256": sample_sha256(path)}


def files_map(folder: Path, exclude: tuple[str, ...] = (MANIFEST,)) -> dict[str, dict]:
    """{name: record} of every file in `folder` and its subfolders (name relative to it, `/`-separated: the index's
    `lexical/...`) but the excluded ones (its manifest), sorted by name."""
    folder = Path(folder)
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    return {
        p.relative_to(folder).as_posix(): file_record(p)
        for p in paths
        if p.relative_to(folder).as_posix() not in exclude
    }
