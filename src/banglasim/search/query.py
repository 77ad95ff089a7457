"""`banglasim search`: rank passages for Bengali questions, one at a time or a file of them (`--batch`).

The default model is the ONNX export (models/export) and the default corpus its ready index
(models/index): nothing but onnxruntime, tokenizers and numpy is loaded. `--model FOLDER` also takes a
Sentence Transformers folder (models/model, the slow exact path kept for comparison); then, and with
`--corpus FOLDER`, the passages are embedded once and cached under --cache-dir, keyed by the model's
identity and the corpus texts. A cache file that cannot be read is rebuilt, never fatal.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from banglasim.config.paths import EXPORT_DIR, PASSAGES_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.data.formats import normalize
from banglasim.export.reranker_runtime import OnnxPairScorer
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex
from banglasim.retrieval.rerank import RerankSettings
from banglasim.retrieval.windows import WindowSettings, cut_windows
from banglasim.search.encoders import ExportEncoder, is_export
from banglasim.search.engine import MAX_TOP_K, Encoder, Searcher, encode_passages
from banglasim.search.hybrid_files import manifest_settings, read_hybrid_files
from banglasim.search.integrity import RERANKER_FIX, quick_check, reranker_files
from banglasim.search.questions import (
    NOT_VALID,
    check_question,
    decode_lines,
    printable,
    silence_stdout,
    stdout_takes_unicode,
)
from banglasim.search.store import _fix, load_index, read_manifest

BATCH_CHUNK = 64


def load_corpus(corpus: str | None) -> list[dict]:
    """Passages with their sources: the prepared ones, or those of a folder in any format prepare reads."""
    if corpus is None:
        if not PASSAGES_FILE.exists():
            raise UserError(f"{PASSAGES_FILE}: not found", fix="run `dvc repro` first, or pass --corpus FOLDER")
        return atomic.read_jsonl(PASSAGES_FILE)
    from banglasim.data.sources import read_corpus

    return read_corpus(corpus)


def load_encoder(folder: str | Path):
    """The encoder of `--model`: an export folder (model.onnx + manifest.json) or a Sentence Transformers folder."""
    folder = Path(folder)
    if is_export(folder) or folder == EXPORT_DIR:
        return ExportEncoder(folder)
    if (folder / "modules.json").exists():
        from banglasim.search.st_encoder import SentenceTransformerEncoder

        return SentenceTransformerEncoder(folder)
    raise UserError(
        f"--model '{folder}' holds no trained model: neither an export (model.onnx, manifest.json) "
        "nor a Sentence Transformers folder (modules.json)",
        fix="run `dvc repro export` (or `dvc repro train`) first, or pass --model FOLDER",
    )


def _read_cache(path: Path, rows: int, width: int | None) -> np.ndarray | None:
    """A cached embedding matrix, or None when missing, unreadable, of another shape than (rows, the model's
    width), not float32, or holding NaN or inf (then it is rebuilt)."""
    try:
        emb = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if emb.ndim != 2 or emb.shape[0] != rows or (width is not None and emb.shape[1] != width):
        return None
    return emb if emb.dtype == np.float32 and np.isfinite(emb).all() else None


def corpus_embeddings(encoder: Encoder, texts: list[str], cache_dir: Path) -> tuple[np.ndarray, str]:
    """Embeddings of the corpus, from the cache when model and corpus are unchanged. Returns (emb, what happened:
    "from cache", "computed and cached" or "computed, not cached")."""
    key = hashlib.sha256(encoder.key.encode() + b"\x00")
    for text in texts:
        key.update(text.encode("utf-8") + b"\x00")
    path = Path(cache_dir) / f"{key.hexdigest()[:24]}.npy"
    emb = _read_cache(path, len(texts), getattr(encoder, "dim", None)) if path.exists() else None
    if emb is not None:
        return emb, "from cache"
    emb = encode_passages(encoder, texts, progress=len(texts) > 1000)
    try:
        buffer = io.BytesIO()
        np.save(buffer, emb)
        atomic.write_bytes(path, buffer.getvalue())
    except OSError as exc:  # a cache that cannot be written costs time, not the answer
        print(f"warning: corpus embeddings not cached ({exc.strerror}: {exc.filename})", file=sys.stderr)
        return emb, "computed, not cached"
    return emb, "computed and cached"


def load_reranker(folder: str | Path | None) -> tuple[OnnxPairScorer | None, RerankSettings, bool]:
    """The re-ranker export of `--reranker` with how search uses it (top_k, weight, on by default), from its
    manifest; (None, defaults, False) when the folder holds none ('' or no manifest.json)."""
    if not folder or not (Path(folder) / "manifest.json").is_file():
        return None, RerankSettings(), False
    quick_check(Path(folder), reranker_files(Path(folder)), RERANKER_FIX)  # sizes and hashes, as the export's
    try:
        scorer = OnnxPairScorer(folder)
        use = scorer.manifest["search"]
        settings = RerankSettings(int(use["top_k"]), float(use["weight"]), int(use["overlap"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"--reranker '{folder}' cannot be read: {exc}", fix="rebuild it (dvc repro export_reranker)"
        ) from None
    return scorer, settings, bool(use["default"])


def open_searcher(
    model: str | Path,
    index_dir: str | Path,
    corpus: str | None = None,
    cache_dir: str | Path = ".cache/search",
    reranker: str | Path | None = None,
) -> tuple[Searcher, str]:
    """The searcher of these options and a line saying where its passage vectors came from."""
    searcher, origin = _open_first_stage(model, index_dir, corpus, cache_dir)
    scorer, settings, default = load_reranker(reranker)
    if scorer is not None:
        searcher.reranker, searcher.rerank, searcher.rerank_default = scorer, settings, default
        origin += f"; re-ranker: {reranker} (top {settings.top_k}, {'on' if default else 'off'} by default)"
    return searcher, origin


def _open_first_stage(
    model: str | Path, index_dir: str | Path, corpus: str | None, cache_dir: str | Path
) -> tuple[Searcher, str]:
    encoder = load_encoder(model)
    if corpus is None and isinstance(encoder, ExportEncoder):
        passages, vectors, ann = load_index(Path(index_dir), encoder.key, encoder.name)
        manifest = read_manifest(Path(index_dir))
        owner, lexical, mode, fusion = read_hybrid_files(
            Path(index_dir), manifest, len(passages), len(vectors), _fix(Path(index_dir))
        )
        kind = "approximate" if ann is not None else "exact"
        origin = f"index: {index_dir} ({len(passages)} passages, {len(vectors)} windows, {kind}; {mode} by default)"
        return Searcher(encoder, passages, vectors, ann, owner, lexical, mode, fusion), origin
    passages = load_corpus(corpus)
    texts = [p["text"] for p in passages]
    windows, bm25, mode, fusion = corpus_settings(Path(index_dir))
    tokenizer, max_seq_length = encoder.window_tokenizer()
    cut = cut_windows(texts, tokenizer, windows, max_seq_length, encoder.prompt("passage"))
    vectors, status = corpus_embeddings(encoder, cut.texts, Path(cache_dir))
    lexical = LexicalIndex.build(texts, bm25)
    origin = f"corpus embeddings: {status} ({len(texts)} passages, {len(cut.texts)} windows; {mode} by default)"
    return Searcher(encoder, passages, vectors, None, cut.owner, lexical, mode, fusion), origin


def corpus_settings(index_dir: Path) -> tuple[WindowSettings, Bm25Settings, str, FusionSettings]:
    """Windows, BM25 and fusion settings for a corpus embedded on the fly: those the index was built with, or the
    defaults (params.yaml's) when there is no readable index."""
    try:
        return manifest_settings(read_manifest(index_dir))
    except (UserError, KeyError, TypeError, ValueError):
        return WindowSettings(), Bm25Settings(), "hybrid", FusionSettings()


def batch_lines(
    searcher: Searcher, lines: Iterable[str], top_k: int, mode: str | None = None, rerank: bool | None = None
) -> Iterator[dict]:
    """One answer per input line, in order: {"question", "mode", "hits"} (and a "note" when hybrid search ranked by
    the dense model alone) or {"question", "error"}."""
    chunk: list[str] = []

    def flush() -> Iterator[dict]:
        asked = [(i, normalize(q)) for i, q in enumerate(chunk) if check_question(q) is None]
        found = dict(zip((i for i, _ in asked), searcher.answers([q for _, q in asked], top_k, mode, rerank)))
        for i, question in enumerate(chunk):
            if i not in found:
                yield {"question": printable(question), "error": check_question(question)}
            elif "error" in found[i]:
                yield {"question": question, "error": found[i]["error"]}
            else:
                yield {"question": question, **found[i]}
        chunk.clear()

    for line in lines:
        chunk.append(line.rstrip("\r\n"))
        if len(chunk) == BATCH_CHUNK:
            yield from flush()
    if chunk:
        yield from flush()


def _open_batch(path: str) -> BinaryIO:
    """The batch file in binary (decode_lines decodes each line on its own), or standard input for '-'."""
    if path == "-":
        return getattr(sys.stdin, "buffer", sys.stdin)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise UserError(
            f"--batch '{path}' cannot be read: {exc.strerror}", fix="pass a UTF-8 text file with one question per line"
        ) from None


def read_question(args: argparse.Namespace) -> str:
    """The question from the command line, `--question-file FILE`, or standard input (`-`)."""
    if args.question_file is not None:
        if args.question not in (None, ""):
            raise UserError("pass the question either as an argument or with --question-file, not both")
        try:
            return Path(args.question_file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"--question-file '{args.question_file}' cannot be read: {exc}",
                fix="pass a UTF-8 text file holding the question",
            ) from None
    if args.question is None:
        raise UserError(
            "no question given", fix='banglasim search "...", --question-file FILE, --batch FILE, or - for stdin'
        )
    if args.question != "-":
        return args.question
    try:
        return sys.stdin.read().removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{NOT_VALID}: standard input is not UTF-8 ({exc.reason} at byte {exc.start})",
            fix="pass the question as UTF-8 text",
        ) from None


def print_hits(searcher: Searcher, hits: list[dict]) -> None:
    """Hits for a reader: rank, score (and each retriever's, when fused), the sources of the passage, title, and the
    text cut at 160 characters."""
    sources = {p["passage_id"]: p.get("sources", []) for p in searcher.passages}
    for hit in hits:
        text = hit["text"] if len(hit["text"]) <= 160 else hit["text"][:157] + "..."
        parts = [
            f"{name} {hit[key]:.4f}"
            for key, name in (("dense_score", "dense"), ("lexical_score", "bm25"), ("rerank_score", "re-ranker"))
            if key in hit
        ]
        detail = f" ({', '.join(parts)})" if len(parts) > 1 else ""
        print(
            f"{hit['rank']:>2}. {hit['score']:.4f}{detail}  [{', '.join(sources.get(hit['passage_id'], []))}] "
            f"{hit['title']}"
        )
        print(f"    {text}")


def checked_rerank(searcher: Searcher, rerank: bool | None) -> bool | None:
    """--rerank / --no-rerank, if this searcher has a re-ranker for --rerank."""
    if rerank and searcher.reranker is None:
        raise UserError(
            "--rerank: there is no re-ranker export (models/reranker_export/manifest.json, or --reranker FOLDER)",
            fix="build it with `dvc repro export_reranker`, or search without --rerank",
        )
    return rerank


def checked_mode(searcher: Searcher, mode: str | None) -> str | None:
    """The mode asked for, if this searcher has what it needs (a BM25 index for hybrid and bm25)."""
    if mode is not None and mode not in searcher.modes():
        raise UserError(f"--mode {mode}: this index has no BM25 index", fix="rebuild it (dvc repro index)")
    return mode


def run_batch(args: argparse.Namespace) -> int:
    """`--batch FILE`: one JSON line per question line, in order; an empty or over-long line gets an "error"."""
    if args.question is not None or args.question_file is not None:
        raise UserError("pass either a question or --batch FILE, not both")
    with _open_batch(args.batch) as lines:  # opened first: a wrong path fails before the model loads
        searcher, origin = open_searcher(args.model, args.index, args.corpus, args.cache_dir, args.reranker)
        mode, rerank = checked_mode(searcher, args.mode), checked_rerank(searcher, args.rerank)
        print(origin, file=sys.stderr)
        ascii_only, not_text = not stdout_takes_unicode(), []
        try:
            for number, answer in enumerate(batch_lines(searcher, decode_lines(lines), args.top_k, mode, rerank), 1):
                if answer.get("error", "").startswith(NOT_VALID):
                    not_text.append(number)
                sys.stdout.write(json.dumps(answer, ensure_ascii=ascii_only) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has all it wanted
            silence_stdout()
            return 0
    if not_text:
        print(
            f"warning: --batch '{args.batch}': {len(not_text)} line(s) not UTF-8 text (first: line {not_text[0]}), "
            "answered with an error; save the file as UTF-8",
            file=sys.stderr,
        )
    return 0


def run_cli(args: argparse.Namespace) -> int:
    if not 1 <= args.top_k <= MAX_TOP_K:
        raise UserError(f"--top-k {args.top_k} is invalid", fix=f"pass a number from 1 to {MAX_TOP_K}")
    if args.batch is not None:
        return run_batch(args)
    question = read_question(args)
    problem = check_question(question)
    if problem:
        raise UserError(problem, fix='pass a question: banglasim search "..."')
    searcher, origin = open_searcher(args.model, args.index, args.corpus, args.cache_dir, args.reranker)
    mode, rerank = checked_mode(searcher, args.mode), checked_rerank(searcher, args.rerank)
    (answer,) = searcher.answers([normalize(question)], args.top_k, mode, rerank)
    if "error" in answer:
        raise UserError(answer["error"], fix="ask with --mode hybrid or --mode dense, which rank any question")
    ascii_only = not stdout_takes_unicode()
    try:
        if args.json:
            print(origin, file=sys.stderr)
            print(json.dumps({"question": question, **answer}, ensure_ascii=ascii_only))
        else:
            print(origin)
            how = answer["mode"] + (", re-ranked" if answer.get("rerank") else "")
            print(f"ranked by: {how}" + (f" ({answer['note']})" if "note" in answer else ""))
            print_hits(searcher, answer["hits"])
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
    return 0
