"""The index folder (models/index/): vectors.npy, passages.jsonl, manifest.json and, for big corpora, approximate.faiss.

Written whole by the index stage (atomic folder); read by search and serve, which check it against the
export and against its manifest's sizes and hashes (integrity.py) before answering anything, and read it
whole into memory: a missing, damaged or stale file, or a wrong field, is one UserError naming it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from banglasim.config.paths import INDEX_DIR
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.export.files import files_map
from banglasim.search.integrity import check_files_shape, quick_check

MANIFEST, VECTORS, PASSAGES, APPROXIMATE = "manifest.json", "vectors.npy", "passages.jsonl", "approximate.faiss"
FORMAT = 2  # 2: vectors by passage window (windows.npy), the BM25 index (lexical/), every file's size and hashes
UNIT_TOLERANCE = 1e-3  # how far a stored vector's length may be from 1
ROW_KEYS = ("passage_id", "title", "text", "sources")


def _fix(index_dir: Path) -> str:
    return (
        "run `dvc repro index` (or `dvc checkout models/index`)"
        if Path(index_dir) == INDEX_DIR
        else f"rebuild {index_dir} with the index stage (dvc repro index)"
    )


def write_index(out: Path, passages: list[dict], vectors: np.ndarray, manifest: dict, ann=None) -> None:
    """Write the files of an index folder into `out` (a fresh folder from atomic.atomic_dir); the manifest, written
    last, records the size and hashes of every other file in the folder (export/files.py)."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32))
    (out / VECTORS).write_bytes(buffer.getvalue())
    rows = [{key: p[key] for key in ROW_KEYS if key in p} for p in passages]
    (out / PASSAGES).write_text(atomic.jsonl_text(rows), encoding="utf-8")
    if ann is not None:
        ann.save(out / APPROXIMATE)
    manifest["files"] = files_map(out)
    (out / MANIFEST).write_text(atomic.json_text(manifest), encoding="utf-8")


def read_manifest(index_dir: Path) -> dict:
    """The index's manifest, its fields checked for type and range; a UserError naming the first wrong one."""
    path = Path(index_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found (no index)", fix=_fix(index_dir)) from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UserError(f"{path}: damaged, not JSON ({exc})", fix=_fix(index_dir)) from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: damaged, not a JSON object", fix=_fix(index_dir))
    missing = [k for k in ("format", "count", "dim", "export_manifest_sha256", "approximate") if k not in manifest]
    if missing:
        raise UserError(f"{path}: damaged, no {', '.join(missing)}", fix=_fix(index_dir))
    problem = manifest_problem(manifest)
    if problem:
        raise UserError(f"{path}: {problem}", fix=_fix(index_dir))
    return manifest


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def manifest_problem(manifest: dict) -> str | None:
    """What is wrong with the fields of an index manifest, or None."""
    if manifest["format"] != FORMAT:
        return (
            f"format {json.dumps(manifest['format'])}, this banglasim reads format {FORMAT} (made by another version)"
        )
    for key in ("count", "dim", "vectors"):
        if not _count(manifest.get(key)):
            return f'damaged, "{key}" is {json.dumps(manifest.get(key))}, not a whole number from 1'
    if not isinstance(manifest["export_manifest_sha256"], str):
        return 'damaged, "export_manifest_sha256" is not a string'
    if not isinstance(manifest["approximate"], bool):
        return 'damaged, "approximate" is not true or false'
    settings = manifest.get("approximate_settings")
    if settings is not None and not isinstance(settings, dict):
        return 'damaged, "approximate_settings" is not an object'
    if settings is not None and "nprobe" in settings and not _count(settings["nprobe"]):
        return f'damaged, "approximate_settings.nprobe" is {json.dumps(settings["nprobe"])}, not a whole number from 1'
    if not isinstance(manifest.get("files"), dict):
        return 'damaged, no "files" (the sizes and hashes of its files)'
    needed = [VECTORS, PASSAGES, "windows.npy"] + ([APPROXIMATE] if manifest["approximate"] else [])
    lacking = [name for name in needed if name not in manifest["files"]]
    return f'damaged, no {", ".join(lacking)} in "files"' if lacking else None


def index_files(index_dir: Path, manifest: dict) -> tuple[dict[str, dict], str]:
    """The index's recorded files (every file of the folder but its manifest) and the fix for a damaged one."""
    return check_files_shape(manifest["files"], Path(index_dir) / MANIFEST, _fix(index_dir)), _fix(index_dir)


def load_vectors(path: Path, count: int, dim: int, fix: str) -> np.ndarray:
    """The passage vectors, read whole into memory (a file rewritten under a running server cannot change or crash
    it), checked for type, shape, finite values and unit length."""
    try:
        vectors = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix=fix) from None
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged ({exc})", fix=fix) from None
    if vectors.dtype != np.float32 or vectors.shape != (count, dim):
        raise UserError(
            f"{path}: damaged ({vectors.dtype} {vectors.shape}, the manifest says float32 ({count}, {dim}))", fix=fix
        )
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise UserError(f"{path}: damaged (row {int(np.argmin(finite))} holds NaN or inf)", fix=fix)
    norms = np.linalg.norm(vectors, axis=1)
    off = np.abs(norms - 1) > UNIT_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise UserError(f"{path}: damaged (row {row} has length {norms[row]:.4g}, not 1)", fix=fix)
    return vectors


def row_problem(row: object) -> str | None:
    """What is wrong with one passages.jsonl row (an object with a non-empty string passage_id, a string text and,
    when present, a string title and a list of string sources), or None."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if not isinstance(row.get("passage_id"), str) or not row["passage_id"]:
        return "no passage_id" if "passage_id" not in row else "passage_id is not a non-empty string"
    if not isinstance(row.get("text"), str):
        return "no text" if "text" not in row else "text is not a string"
    if not isinstance(row.get("title", ""), str):
        return "title is not a string"
    sources = row.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
        return "sources is not a list of strings"
    return None


def read_passages(path: Path, count: int, fix: str) -> list[dict]:
    """The passages, every row's fields checked; a UserError naming the file and line of the first bad one."""
    rows = []
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise UserError(f"{path}: damaged, line {number} is not JSON ({exc})", fix=fix) from None
                problem = row_problem(row)
                if problem:
                    raise UserError(f"{path}: damaged, line {number}: {problem}", fix=fix)
                rows.append(row)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix=fix) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: damaged, not UTF-8 ({exc.reason} at byte {exc.start} of a line)", fix=fix) from None
    if len(rows) != count:
        raise UserError(f"{path}: damaged ({len(rows)} passages, the manifest says {count})", fix=fix)
    return rows


def load_ann(path: Path, manifest: dict, vectors: np.ndarray, fix: str):
    """The approximate index, checked: as many vectors as the manifest says, of its width, and a probe search of a
    few stored vectors returns only rows that exist."""
    if not path.is_file():
        raise UserError(f"{path}: not found", fix=fix)
    from banglasim.search.ann import AnnSettings, FaissIndex

    count, dim = manifest["vectors"], manifest["dim"]  # the approximate index holds the windows' vectors
    nprobe = (manifest.get("approximate_settings") or {}).get("nprobe", AnnSettings().nprobe)
    try:
        ann = FaissIndex.load(path, nprobe)
        rows, _ = ann.search(vectors[: min(count, 8)], min(count, 8))
    except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError for a truncated or foreign file
        raise UserError(f"{path}: damaged ({type(exc).__name__}: {exc})", fix=fix) from None
    if len(ann) != count or ann.index.d != dim:
        raise UserError(f"{path}: damaged ({len(ann)} x {ann.index.d}, the manifest says {count} x {dim})", fix=fix)
    if rows.size and (rows.min() < -1 or rows.max() >= count):
        raise UserError(f"{path}: damaged (a search returned row {int(rows.max())} of {count})", fix=fix)
    return ann


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
    files, fix = index_files(index_dir, manifest)
    for name in (VECTORS, PASSAGES):  # a missing file is named before any hash is compared
        if not (index_dir / name).is_file():
            raise UserError(f"{index_dir / name}: not found", fix=fix)
    quick_check(index_dir, files, fix)
    count, dim = manifest["count"], manifest["dim"]
    vectors = load_vectors(index_dir / VECTORS, manifest["vectors"], dim, fix)  # one row per passage window
    passages = read_passages(index_dir / PASSAGES, count, fix)
    ann = load_ann(index_dir / APPROXIMATE, manifest, vectors, fix) if manifest["approximate"] else None
    return passages, vectors, ann
