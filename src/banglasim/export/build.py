"""Build an export folder from a loaded Sentence Transformers model: prune, export, quantise, write the manifest.

The folder holds model.onnx (int8 or fp32), tokenizer.json (pruned, with truncation at the model's
max_seq_length and batch padding) and manifest.json; the stage adds the model card (card.py).
"""

from __future__ import annotations

import importlib.metadata
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

from banglasim.export import graph, vocab
from banglasim.export.files import files_map
from banglasim.export.runtime import FORMAT, MANIFEST, MODEL_FILE, TOKENIZER_FILE
from banglasim.models.folder import file_sha256

VOCAB_MODES = ("bengali_latin", "full")
QUANTIZE_MODES = ("int8", "fp32")
VERSIONED = ("torch", "onnx", "onnxruntime", "tokenizers", "transformers", "sentence-transformers")


@dataclass(frozen=True)
class ExportOptions:
    vocab: str = "bengali_latin"  # bengali_latin | full
    quantize: str = "int8"  # int8 | fp32
    opset: int = graph.OPSET


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def backend_tokenizer(model: SentenceTransformer) -> Tokenizer:
    """The model's fast tokenizer as a `tokenizers.Tokenizer` (a copy: changing it leaves the model alone)."""
    tok = getattr(model[0].tokenizer, "backend_tokenizer", None)
    if tok is None:
        raise ValueError(f"{type(model[0].tokenizer).__name__} is not a fast tokenizer: nothing to export")
    return Tokenizer.from_str(tok.to_str())


def pruned_vocab(tokenizer: Tokenizer, texts: list[str], mode: str) -> vocab.PrunedVocab:
    """The vocabulary of `mode` (bengali_latin: pruned to ASCII, Bengali and the texts' characters | full)."""
    if mode == "full":
        return vocab.full(tokenizer)
    if mode != "bengali_latin":
        raise ValueError(f"vocab mode {mode!r} is not one of {', '.join(VOCAB_MODES)}")
    return vocab.prune(tokenizer, vocab.kept_chars(tokenizer, texts))


def finish_tokenizer(text: str, max_seq_length: int) -> Tokenizer:
    """The exported tokenizer: truncation at max_seq_length (specials included), batch padding with the pad token."""
    tok = Tokenizer.from_str(text)
    tok.no_truncation()
    tok.enable_truncation(max_seq_length)
    pad = next((t for t in ("<pad>", "[PAD]") if tok.token_to_id(t) is not None), None)
    tok.no_padding()
    tok.enable_padding(pad_id=tok.token_to_id(pad) if pad else 0, pad_token=pad or "[PAD]")
    return tok


def build(
    model: SentenceTransformer,
    out_dir: Path,
    texts: list[str],
    options: ExportOptions,
    prompts: dict[str, str],
    source_sha256: str,
) -> dict:
    """Write model.onnx, tokenizer.json and manifest.json of `model` into out_dir; return the manifest.

    `texts`: the corpus whose characters the pruned vocabulary keeps; `prompts`: the query and passage
    prompts the model was trained with. The model's word embeddings are sliced in place.
    """
    if options.quantize not in QUANTIZE_MODES:
        raise ValueError(f"quantize mode {options.quantize!r} is not one of {', '.join(QUANTIZE_MODES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    full_tokenizer = backend_tokenizer(model)
    pruned = pruned_vocab(full_tokenizer, texts, options.vocab)
    tokenizer = finish_tokenizer(pruned.tokenizer_json, model.max_seq_length)
    tokenizer.save(str(out_dir / TOKENIZER_FILE), pretty=False)
    graph.slice_embeddings(model, pruned.kept_ids)
    write_graph(lambda path: graph.export_onnx(model, path, options.opset), out_dir, options.quantize)
    manifest = {
        "format": FORMAT,
        "model_sha256": file_sha256(out_dir / MODEL_FILE),
        "source_model_sha256": source_sha256,
        "dim": model.get_embedding_dimension(),
        "max_seq_length": model.max_seq_length,
        "prompts": {"query": prompts.get("query", ""), "passage": prompts.get("passage", "")},
        "quantize": options.quantize,
        "vocab": options.vocab,
        "pieces_kept": pruned.pieces_kept,
        "pieces_total": pruned.pieces_total,
        "pad_id": tokenizer.padding["pad_id"],
        "opset": graph.graph_opset(out_dir / MODEL_FILE),
        "inputs": list(graph.INPUT_NAMES),
        "output": graph.OUTPUT_NAME,
        "sizes": {},  # bytes of every other file of the folder
        "versions": versions(),
    }
    manifest["sizes"] = {name: (out_dir / name).stat().st_size for name in (MODEL_FILE, TOKENIZER_FILE)}
    write_manifest(out_dir, manifest)
    return manifest


def write_graph(export: Callable[[Path], None], out_dir: Path, quantize: str) -> None:
    """out_dir/model.onnx from `export` (which writes an fp32 graph to the path it is given), int8 or fp32."""
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export(fp32)
        if quantize == "int8":
            graph.quantize_int8(fp32, out_dir / MODEL_FILE)
        else:
            fp32.replace(out_dir / MODEL_FILE)


def write_manifest(out_dir: Path, manifest: dict) -> None:
    """manifest.json; its "sizes" are the bytes of every other file of the folder, its "files" their sizes and
    hashes (files.py; search/integrity.py checks them at start and `banglasim verify` in full)."""
    manifest["files"] = files_map(out_dir)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
