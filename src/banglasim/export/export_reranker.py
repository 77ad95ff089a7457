"""Stage `export_reranker`: models/reranker -> models/reranker_export/, the re-ranker as one ONNX graph, no torch.

Writes model.onnx ((question, passage) pair -> logit; int8 by default: `export.quantize: int8 | fp32`),
tokenizer.json (pruned like the bi-encoder's export: `export.vocab: bengali_latin | full`; pairs truncated
to the model's max length) and manifest.json (format banglasim-reranker/1: hashes, sizes, inputs,
versions; "search": reranker.top_k, weight and default, how search and serve use it). The folder is
replaced as a whole (a failed export leaves the previous one). Score with
`banglasim.export.reranker_runtime.OnnxPairScorer`.
"""

from __future__ import annotations

from sentence_transformers import CrossEncoder

from banglasim.config.params import load_params
from banglasim.config.paths import EXAMPLES_FILE, PASSAGES_FILE, RERANKER_DIR, RERANKER_EXPORT_DIR
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.export import build, reranker_graph, vocab
from banglasim.export.reranker_build import build_reranker, cross_encoder_tokenizer, max_length
from banglasim.models.folder import folder_digest
from banglasim.models.loading import quiet_library_bars


def run(params_path: str) -> None:
    quiet_library_bars()
    params = load_params(params_path, ("export", "reranker", "retrieval"))
    cfg, rr = params.export, params.reranker
    require_inputs(
        [
            (RERANKER_DIR / "config.json", "train_reranker"),
            (PASSAGES_FILE, "prepare"),
            (EXAMPLES_FILE, "prepare"),
        ]
    )
    ce = CrossEncoder(str(RERANKER_DIR), device="cpu")
    try:  # not a single-Transformer cross-encoder, no max length, no fast tokenizer
        reranker_graph.check_exportable(ce)
        max_length(ce)
        cross_encoder_tokenizer(ce)
    except ValueError as exc:
        raise UserError(
            f"{RERANKER_DIR}: {exc}", fix="save the re-ranker with sentence-transformers' CrossEncoder"
        ) from None
    source_digest = folder_digest(RERANKER_DIR)
    texts = vocab.corpus_texts([PASSAGES_FILE, EXAMPLES_FILE])
    options = build.ExportOptions(vocab=cfg.vocab, quantize=cfg.quantize)
    with atomic.atomic_dir(RERANKER_EXPORT_DIR) as out:
        try:
            manifest = build_reranker(ce, out, texts, options, source_digest)
        except vocab.PruneError as exc:
            raise UserError(f"{RERANKER_DIR}: {exc}", fix="set export.vocab: full in params.yaml") from None
        # how search and serve use it (reranker.top_k, weight, default; the window overlap), as the index carries
        # the first stage's settings
        manifest["search"] = {
            "top_k": rr.top_k,
            "weight": rr.weight,
            "default": rr.default,
            "overlap": params.retrieval.window_overlap,
        }
        build.write_manifest(out, manifest)
    total = sum(p.stat().st_size for p in RERANKER_EXPORT_DIR.iterdir())
    print(
        f"export_reranker: {RERANKER_EXPORT_DIR}/ {total / 1e6:.1f} MB ({manifest['quantize']}, "
        f"opset {manifest['opset']}, max_length {manifest['max_length']}; "
        f"{manifest['pieces_kept']:,} of {manifest['pieces_total']:,} vocabulary pieces kept)"
    )
