"""Stage `index`: embed data/prepared/passages.jsonl with the export, write models/index/ ready to serve.

The folder holds the unit vectors (vectors.npy, float32, one row per passage window: retrieval.window_*),
windows.npy (the passage of each row), the passages (passages.jsonl: id, title, text, sources), the BM25
index (lexical/) and manifest.json (the export's hashes, counts, dim, the retrieval settings search starts
with, whether an approximate index is included).
Above `index.approximate_above` passages it also holds approximate.faiss, an inverted-file index (see ann.py).
"""

from __future__ import annotations

import time

import numpy as np

from banglasim.config.params import load_params
from banglasim.config.paths import EXPORT_DIR, INDEX_DIR, PASSAGES_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex
from banglasim.retrieval.settings import bm25_settings, fusion_settings, window_settings
from banglasim.retrieval.windows import WindowSettings, cut_windows, window_length
from banglasim.search.ann import AnnSettings, FaissIndex
from banglasim.search.encoders import ExportEncoder
from banglasim.search.engine import encode_passages
from banglasim.search.hybrid_files import hybrid_manifest, write_hybrid_files
from banglasim.search.store import FORMAT, write_index


def build_manifest(
    encoder: ExportEncoder, count: int, vectors: np.ndarray, ann_settings: AnnSettings | None, approximate_above: int
) -> dict:
    return {
        "format": FORMAT,
        "count": count,
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
    windows: WindowSettings = WindowSettings(),
    bm25: Bm25Settings = Bm25Settings(),
    mode: str = "hybrid",
    fusion: FusionSettings = FusionSettings(),
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
    texts = [p["text"] for p in passages]
    start = time.perf_counter()
    (tokenizer, max_len), prompt = encoder.window_tokenizer(), encoder.prompt("passage")
    cut = cut_windows(texts, tokenizer, windows, max_len, prompt)
    vectors = encode_passages(encoder, cut.texts, batch_size, progress=True)
    took = time.perf_counter() - start
    print(
        f"index: {len(passages)} passages ({len(cut.texts)} windows) embedded in {took:.1f} s "
        f"({len(cut.texts) / max(took, 1e-9):.0f} windows/s)"
    )
    start = time.perf_counter()
    lexical = LexicalIndex.build(texts, bm25)
    print(f"index: BM25 index of {lexical.vocabulary_size()} terms built in {time.perf_counter() - start:.1f} s")
    ann, settings = None, None
    if len(passages) > approximate_above:  # the windows' vectors
        start = time.perf_counter()
        settings = ann_settings or AnnSettings()
        ann = FaissIndex.build(vectors, settings)
        print(
            f"index: approximate index (faiss IVF{settings.lists_for(len(passages))},SQ8) built in "
            f"{time.perf_counter() - start:.1f} s"
        )
    manifest = build_manifest(encoder, len(passages), vectors, settings, approximate_above)
    tokens = window_length(tokenizer, windows, max_len, prompt) if windows.enabled else 0
    manifest.update(hybrid_manifest(cut, tokens, windows.overlap, lexical, mode, fusion))
    with atomic.atomic_dir(out_dir) as tmp:
        write_hybrid_files(tmp, cut, lexical)  # first: the manifest, written last, records every file's hashes
        write_index(tmp, passages, vectors, manifest, ann)
    print(
        f"index: {len(passages)} x {vectors.shape[1]} written to {out_dir}/"
        f"{' with an approximate index' if ann is not None else ' (exact search)'}"
    )
    return manifest


def run(params_path: str) -> None:
    params = load_params(params_path, ("index", "retrieval"))
    cfg, retrieval = params.index, params.retrieval
    require_inputs([(EXPORT_DIR / "manifest.json", "export"), (PASSAGES_FILE, "prepare")])
    build(
        EXPORT_DIR,
        PASSAGES_FILE,
        INDEX_DIR,
        batch_size=cfg.batch_size,
        approximate_above=cfg.approximate_above,
        ann_settings=AnnSettings(nlist=cfg.nlist, nprobe=cfg.nprobe),
        windows=window_settings(retrieval),
        bm25=bm25_settings(retrieval),
        mode=retrieval.mode,
        fusion=fusion_settings(retrieval),
    )
