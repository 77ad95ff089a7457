"""The index folder's files for windows and hybrid search: windows.npy (the passage row of each vector row) and
lexical/ (the BM25 index, bm25s's files), with what the manifest says of them ("windows", "lexical", "retrieval").

Written by the index stage next to vectors.npy and passages.jsonl; read by search and serve, which rank
with the manifest's settings (the retrieval section of the params the index was built with).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from banglasim.core.errors import UserError
from banglasim.retrieval.fusion import METHODS, MODES, FusionSettings
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex
from banglasim.retrieval.windows import Windows, WindowSettings

WINDOWS, LEXICAL = "windows.npy", "lexical"


def write_hybrid_files(out: Path, windows: Windows, lexical: LexicalIndex) -> None:
    """windows.npy and lexical/ into a fresh index folder."""
    np.save(out / WINDOWS, windows.owner.astype(np.int32))
    (out / LEXICAL).mkdir()
    lexical.save(out / LEXICAL)


def hybrid_manifest(windows: Windows, window_tokens: int, overlap: int, lexical: LexicalIndex, mode: str, fusion):
    """The manifest entries of these files and of the ranking settings search starts with."""
    return {
        "vectors": len(windows.owner),
        "windows": {"tokens": window_tokens, "overlap": overlap, "count": len(windows.owner)},
        "lexical": {**lexical.settings.as_dict(), "terms": lexical.vocabulary_size()},
        "retrieval": {"mode": mode, **fusion.as_dict()},
    }


def manifest_settings(manifest: dict) -> tuple[WindowSettings, Bm25Settings, str, FusionSettings]:
    """The windows (0: none; else what fits the encoder), BM25, default mode and fusion settings of an index
    manifest; KeyError, TypeError or ValueError when an entry is missing or of the wrong type."""
    retrieval = manifest["retrieval"]
    fusion = FusionSettings(
        str(retrieval["method"]),
        float(retrieval["dense_weight"]),
        int(retrieval["rrf_k"]),
        int(retrieval["candidates"]),
    )
    tokens = int(manifest["windows"]["tokens"])
    windows = WindowSettings(0 if tokens == 0 else None, int(manifest["windows"]["overlap"]))
    return windows, Bm25Settings.from_dict(manifest["lexical"]), str(retrieval["mode"]), fusion


def read_hybrid_files(
    index_dir: Path, manifest: dict, passages: int, vectors: int, fix: str
) -> tuple[np.ndarray, LexicalIndex, str, FusionSettings]:
    """(window owner per vector row, BM25 index, default mode, fusion settings) of an index folder."""
    path = Path(index_dir) / WINDOWS
    try:
        owner = np.load(path, allow_pickle=False).astype(np.int64)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix=fix) from None
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: damaged ({exc})", fix=fix) from None
    steps = np.diff(owner)
    if owner.ndim != 1 or len(owner) != vectors or (len(owner) and (owner[0] != 0 or owner[-1] != passages - 1)):
        raise UserError(f"{path}: damaged (does not map {vectors} vectors onto {passages} passages)", fix=fix)
    if ((steps != 0) & (steps != 1)).any():
        raise UserError(f"{path}: damaged (passage rows out of order)", fix=fix)
    try:
        _, settings, mode, fusion = manifest_settings(manifest)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{Path(index_dir) / 'manifest.json'}: damaged windows/lexical/retrieval entries ({exc})", fix=fix
        ) from None
    if mode not in MODES or fusion.method not in METHODS or not 0 <= fusion.dense_weight <= 1 or fusion.candidates < 1:
        raise UserError(f"{Path(index_dir) / 'manifest.json'}: damaged retrieval settings {fusion}", fix=fix)
    path = Path(index_dir) / LEXICAL
    try:
        lexical = LexicalIndex.load(path, settings)
    except FileNotFoundError as exc:
        raise UserError(f"{path}: not found ({Path(exc.filename or path).name})", fix=fix) from None
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise UserError(f"{path}: damaged ({type(exc).__name__}: {exc})", fix=fix) from None
    if len(lexical) != passages:
        raise UserError(f"{path}: damaged ({len(lexical)} passages, the manifest says {passages})", fix=fix)
    return owner, lexical, mode, fusion
