"""Stage `index`: embed data/prepared/passages.jsonl with the export, write models/index/ ready to serve.

The folder holds the unit vectors (vectors.npy, float32), the passages (passages.jsonl: id, title, text,
sources) and manifest.json (the export's hashes, count, dim, whether an approximate index is included).
Above `index.approximate_above` passages it also holds approximate.faiss, an inverted-file index (see ann.py).
"""

from __future__ import annotations

import time

import numpy as np

from banglasim.config.params import load_params
from banglasim.config.paths import EXPORT_DIR, INDEX_DIR, PASSAGES_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.search.ann import AnnSettings, FaissIndex
from banglasim.search.encoders import ExportEncoder
from banglasim.search.engine import encode_passages
from banglasim.search.store import FORMAT, write_index


def build_manifest(
    encoder: ExportEncoder, vectors: np.ndarray, ann_settings: AnnSettings | None, approximate_above: int
) -> dict:
    return {
        "format": FORMAT,
        "count": int(vectors.shape[0]),
        "dim": int(vectors.shape[1]),
        "export_model_sha256": encoder.model_sha256,
        "export_manifest_sha256": encoder.key,
        "approximate": ann_settings is not None,
        "approximate_above": approximate_above,
        "approximate_settings": ann_settings.as_dict() if ann_settings is not None else None,
        "metric": "cosine",
    }


def build(
    export_dir,
    passages_file,
    out_dir,
    *,
    batch_size: int = 64,
    approximate_above: int = 100_000,
    ann_settings: AnnSettings | None = None,
) -> dict:
    """Embed the passages with the export at `export_dir`, write the index folder `out_dir`; returns its manifest."""
    encoder = ExportEncoder(export_dir)
    try:
        passages = atomic.read_jsonl(passages_file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(
            f"{passages_file}: damaged ({exc})", fix="rerun the prepare stage (dvc repro prepare)"
        ) from None
    if not passages:
        raise UserError(f"{passages_file}: no passages", fix="check the data sources, then dvc repro prepare")
    start = time.perf_counter()
    vectors = encode_passages(encoder, [p["text"] for p in passages], batch_size, progress=True)
    took = time.perf_counter() - start
    print(
        f"index: {len(passages)} passages embedded in {took:.1f} s ({len(passages) / max(took, 1e-9):.0f} passages/s)"
    )
    ann, settings = None, None
    if len(passages) > approximate_above:
        start = time.perf_counter()
        settings = ann_settings or AnnSettings()
        ann = FaissIndex.build(vectors, settings)
        print(
            f"index: approximate index (faiss IVF{settings.lists_for(len(passages))},SQ8) built in "
            f"{time.perf_counter() - start:.1f} s"
        )
    manifest = build_manifest(encoder, vectors, settings, approximate_above)
    with atomic.atomic_dir(out_dir) as tmp:
        write_index(tmp, passages, vectors, manifest, ann)
    print(
        f"index: {len(passages)} x {vectors.shape[1]} written to {out_dir}/"
        f"{' with an approximate index' if ann is not None else ' (exact search)'}"
    )
    return manifest


def run(params_path: str) -> None:
    cfg = load_params(params_path, ("index",)).index
    require_inputs([(EXPORT_DIR / "manifest.json", "export"), (PASSAGES_FILE, "prepare")])
    build(
        EXPORT_DIR,
        PASSAGES_FILE,
        INDEX_DIR,
        batch_size=cfg.batch_size,
        approximate_above=cfg.approximate_above,
        ann_settings=AnnSettings(nlist=cfg.nlist, nprobe=cfg.nprobe),
    )
