"""Build a re-ranker export folder from a loaded CrossEncoder: prune, export, quantise, write the manifest.

The folder holds model.onnx (int8 or fp32; pair -> logit, reranker_graph.py), tokenizer.json (pruned like
the bi-encoder's, truncating each pair to the model's max length, longest first, with batch padding) and
manifest.json (format banglasim-reranker/1). Score with reranker_runtime.OnnxPairScorer.
"""

from __future__ import annotations

from pathlib import Path

from sentence_transformers import CrossEncoder
from tokenizers import Tokenizer

from banglasim.export import build, graph, reranker_graph
from banglasim.export.reranker_runtime import FORMAT
from banglasim.export.runtime import MODEL_FILE, TOKENIZER_FILE
from banglasim.models.folder import file_sha256


def cross_encoder_tokenizer(ce: CrossEncoder) -> Tokenizer:
    """The cross-encoder's fast tokenizer as a `tokenizers.Tokenizer` (a copy: changing it leaves the model alone)."""
    tok = getattr(ce.tokenizer, "backend_tokenizer", None)
    if tok is None:
        raise ValueError(f"{type(ce.tokenizer).__name__} is not a fast tokenizer: nothing to export")
    return Tokenizer.from_str(tok.to_str())


def max_length(ce: CrossEncoder) -> int:
    """The cross-encoder's maximum pair length in tokens, specials included."""
    length = getattr(ce, "max_seq_length", None)  # sentence-transformers v6; `max_length` is its deprecated alias
    if not length:
        raise ValueError("the cross-encoder has no maximum sequence length: set max_seq_length before exporting")
    return int(length)


def finish_pair_tokenizer(text: str, length: int) -> Tokenizer:
    """The exported tokenizer: pairs truncated to `length` (longest first, specials included), batch padding."""
    tok = build.finish_tokenizer(text, length)
    tok.no_truncation()
    tok.enable_truncation(length, strategy="longest_first")
    return tok


def build_reranker(
    ce: CrossEncoder, out_dir: Path, texts: list[str], options: build.ExportOptions, source_sha256: str
) -> dict:
    """Write model.onnx, tokenizer.json and manifest.json of `ce` into out_dir; return the manifest.

    `texts`: the corpus whose characters the pruned vocabulary keeps. The model's word embeddings are
    sliced in place.
    """
    if options.quantize not in build.QUANTIZE_MODES:
        raise ValueError(f"quantize mode {options.quantize!r} is not one of {', '.join(build.QUANTIZE_MODES)}")
    reranker_graph.check_exportable(ce)
    length = max_length(ce)
    out_dir.mkdir(parents=True, exist_ok=True)
    pruned = build.pruned_vocab(cross_encoder_tokenizer(ce), texts, options.vocab)
    tokenizer = finish_pair_tokenizer(pruned.tokenizer_json, length)
    tokenizer.save(str(out_dir / TOKENIZER_FILE), pretty=False)
    reranker_graph.slice_cross_encoder_embeddings(ce, pruned.kept_ids)
    build.write_graph(
        lambda path: reranker_graph.export_cross_encoder_onnx(ce, path, options.opset), out_dir, options.quantize
    )
    manifest = {
        "format": FORMAT,
        "kind": "reranker",
        "model_sha256": file_sha256(out_dir / MODEL_FILE),
        "source_model_sha256": source_sha256,
        "max_length": length,
        "quantize": options.quantize,
        "vocab": options.vocab,
        "pieces_kept": pruned.pieces_kept,
        "pieces_total": pruned.pieces_total,
        "pad_id": tokenizer.padding["pad_id"],
        "opset": graph.graph_opset(out_dir / MODEL_FILE),
        "inputs": list(reranker_graph.input_names(ce)),
        "output": reranker_graph.OUTPUT_NAME,
        "sizes": {name: (out_dir / name).stat().st_size for name in (MODEL_FILE, TOKENIZER_FILE)},
        "versions": build.versions(),
    }
    build.write_manifest(out_dir, manifest)
    return manifest
