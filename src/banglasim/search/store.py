"""The index folder (models/index/): vectors.npy, passages.jsonl, manifest.json and, for big corpora, approximate.faiss.

Written whole by the index stage (atomic folder); read by search and serve, which check it against the
export before answering anything: a missing, damaged or stale file is one UserError naming it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from banglasim.config.paths import INDEX_DIR
from banglasim.core import atomic
from banglasim.core.errors import UserError

MANIFEST, VECTORS, PASSAGES, APPROXIMATE = "manifest.json", "vectors.npy", "passages.jsonl", "approximate.faiss"
FORMAT = 2  # 2: vectors by passage window, windows.npy, the BM25 index (lexical/)
ROW_KEYS = ("passage_id", "title", "text", "sources")


def _fix(index_dir: Path) -> str:
    return (
        "run `dvc repro index` (or `dvc checkout models/index`)"
        if Path(index_dir) == INDEX_DIR
        else f"rebuild {index_dir} with the index stage (dvc repro index)"
    )


def write_index(out: Path, passages: list[dict], vectors: np.ndarray, manifest: dict, ann=None) -> None:
    """Write the files of an index folder into `out` (a fresh folder from atomic.atomic_dir)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32))
    (out / VECTORS).write_bytes(buffer.getvalue())
    rows = [{key: p[key] for key in ROW_KEYS if key in p} for p in passages]
    (out / PASSAGES).write_text(atomic.jsonl_text(rows), encoding="utf-8")
    if ann is not None:
        ann.save(out / APPROXIMATE)
    (out / MANIFEST).write_text(atomic.json_text(manifest), encoding="utf-8")


def read_manifest(index_dir: Path) -> dict:
    path = Path(index_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found (no index)", fix=_fix(index_dir)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: damaged, not JSON ({exc})", fix=_fix(index_dir)) from None
    if isinstance(manifest, dict) and manifest.get("format") != FORMAT:
        raise UserError(
            f"{path}: index format {manifest.get('format')!r}, this version reads format {FORMAT}", fix=_fix(index_dir)
        )
    missing = [k for k in ("format", "count", "dim", "export_manifest_sha256", "approximate") if k not in manifest]
    if missing:
        raise UserError(f"{path}: damaged, no {', '.join(missing)}", fix=_fix(index_dir))
    return manifest


def load_index(index_dir: Path, encoder_key: str, encoder_name: str) -> tuple[list[dict], np.ndarray, object]:
    """(passages, vectors, approximate index or None) of a folder built with the encoder whose key is given."""
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    if manifest["export_manifest_sha256"] != encoder_key:
        raise UserError(
            f"{index_dir / MANIFEST}: built with another export than {encoder_name} "
            f"(export manifest {manifest['export_manifest_sha256'][:12]}, now {encoder_key[:12]})",
            fix=_fix(index_dir),
        )
    count, dim = int(manifest["count"]), int(manifest["dim"])
    rows = int(manifest.get("vectors", count))  # one vector per passage window
    path = index_dir / VECTORS
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix=_fix(index_dir)) from None
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged ({exc})", fix=_fix(index_dir)) from None
    if vectors.dtype != np.float32 or vectors.shape != (rows, dim):
        raise UserError(
            f"{path}: damaged ({vectors.dtype} {vectors.shape}, the manifest says float32 ({rows}, {dim}))",
            fix=_fix(index_dir),
        )
    path = index_dir / PASSAGES
    try:
        passages = atomic.read_jsonl(path)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix=_fix(index_dir)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: damaged ({exc})", fix=_fix(index_dir)) from None
    if len(passages) != count or not all(isinstance(p, dict) and "text" in p for p in passages):
        raise UserError(f"{path}: damaged ({len(passages)} passages, the manifest says {count})", fix=_fix(index_dir))
    ann = None
    if manifest["approximate"]:
        path = index_dir / APPROXIMATE
        if not path.is_file():
            raise UserError(f"{path}: not found", fix=_fix(index_dir))
        from banglasim.search.ann import AnnSettings, FaissIndex

        nprobe = int((manifest.get("approximate_settings") or {}).get("nprobe", AnnSettings().nprobe))
        try:
            ann = FaissIndex.load(path, nprobe)
        except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError for a truncated or foreign file
            raise UserError(f"{path}: damaged ({type(exc).__name__}: {exc})", fix=_fix(index_dir)) from None
        if len(ann) != rows:
            raise UserError(f"{path}: damaged ({len(ann)} vectors, the manifest says {rows})", fix=_fix(index_dir))
    return passages, vectors, ann
