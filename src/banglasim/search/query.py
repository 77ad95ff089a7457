"""`banglasim search "<question>"`: rank passages for a Bengali question with the published model.

Questions are encoded with the model's query prompt and passages with its passage prompt (as it was
trained). Corpus embeddings are cached on disk, keyed by a hash of the model's files and of the corpus
texts, so a second search over the same corpus only embeds the question. A cache file that cannot
be read (truncated, from another numpy), of the wrong shape or holding NaN/inf is rebuilt, never fatal.
A model folder missing a file it needs (its tokenizer or prompt config) is an error naming the file.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

from banglasim.config.paths import PASSAGES_FILE
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.data.formats import normalize
from banglasim.data.sources import read_corpus
from banglasim.models.folder import folder_digest, missing_model_files
from banglasim.models.loading import load_model, quiet_library_bars, show_progress


def load_corpus(corpus: str | None) -> list[dict]:
    """Passages with their sources: the prepared ones, or those of a folder in any format prepare reads."""
    if corpus is None:
        if not PASSAGES_FILE.exists():
            raise UserError(f"{PASSAGES_FILE}: not found", fix="run `dvc repro` first, or pass --corpus FOLDER")
        return atomic.read_jsonl(PASSAGES_FILE)
    return read_corpus(corpus)


def _read_cache(path: Path, rows: int, width: int | None) -> np.ndarray | None:
    """A cached embedding matrix, or None when missing, unreadable, of another shape than (rows, the model's
    width), or holding NaN or inf (then it is rebuilt)."""
    try:
        emb = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if emb.ndim != 2 or emb.shape[0] != rows or (width is not None and emb.shape[1] != width):
        return None
    if not np.issubdtype(emb.dtype, np.floating) or not np.isfinite(emb).all():
        return None
    return emb


def corpus_embeddings(model, model_dir: Path, texts: list[str], cache_dir: Path) -> tuple[np.ndarray, str]:
    """Embeddings of the corpus, from the cache when model and corpus are unchanged. Returns (emb, what happened:
    "from cache", "computed and cached" or "computed, not cached")."""
    key = hashlib.sha256(folder_digest(model_dir).encode())
    for text in texts:
        key.update(text.encode("utf-8") + b"\x00")
    path = cache_dir / f"{key.hexdigest()[:24]}.npy"
    emb = _read_cache(path, len(texts), model.get_embedding_dimension()) if path.exists() else None
    if emb is not None:
        return emb, "from cache"
    emb = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                       prompt=(model.prompts or {}).get("passage") or None, show_progress_bar=show_progress(len(texts)))
    try:
        buffer = io.BytesIO()
        np.save(buffer, emb)
        atomic.write_bytes(path, buffer.getvalue())
    except OSError as exc:  # a cache that cannot be written costs time, not the answer
        print(f"warning: corpus embeddings not cached ({exc.strerror}: {exc.filename})", file=sys.stderr)
        return emb, "computed, not cached"
    return emb, "computed and cached"


def load_search_model(model_dir: Path):
    """The model of `--model`, with errors that name that option."""
    if not (model_dir / "modules.json").exists():
        raise UserError(f"--model '{model_dir}' holds no trained model",
                        fix="run `dvc repro` (or `dvc repro train`) first, or pass --model FOLDER")
    missing = missing_model_files(model_dir)
    if missing:
        raise UserError(f"--model '{model_dir}' is incomplete: {', '.join(missing)} missing",
                        fix="restore the folder (dvc checkout, or dvc pull) or rerun the train stage (dvc repro -f "
                            "train); never delete files of a saved model")
    quiet_library_bars()
    try:
        model = load_model(str(model_dir))
        model.encode(["প্রশ্ন"], convert_to_numpy=True)  # a tokenizer or weights that load yet cannot embed
        return model
    except UserError as exc:
        raise UserError(f"--model '{model_dir}' could not be loaded: {exc.message.split(': ', 1)[-1]}",
                        fix="pass --model a folder saved by the train stage (models/model), or rerun it") from None
    except Exception as exc:  # corrupt weights: safetensors/torch raise their own types
        raise UserError(f"--model '{model_dir}' could not be loaded: {type(exc).__name__}: {exc}",
                        fix="its files are damaged: rerun the train stage (dvc repro -f train) "
                            "or restore them (dvc checkout)") from None


def search(question: str, model_dir: Path, corpus: str | None, top_k: int, cache_dir: Path) -> tuple[list[dict], str]:
    """Top-k passages for the question, each with its cosine score; and where the corpus embeddings came from."""
    if not question.strip():
        raise UserError("the question is empty", fix='pass a question: banglasim search "..."')
    model = load_search_model(model_dir)
    passages = load_corpus(corpus)
    emb, status = corpus_embeddings(model, model_dir, [p["text"] for p in passages], cache_dir)
    q = model.encode([normalize(question)], normalize_embeddings=True, convert_to_numpy=True,
                     prompt=(model.prompts or {}).get("query") or None)[0]
    scores = emb @ q
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [{**passages[i], "score": float(scores[i]), "rank": r + 1} for r, i in enumerate(order)], status


def read_question(args: argparse.Namespace) -> str:
    """The question from the command line, `--question-file FILE`, or standard input (`-`)."""
    if args.question_file is not None:
        if args.question not in (None, ""):
            raise UserError("pass the question either as an argument or with --question-file, not both")
        try:
            return Path(args.question_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--question-file '{args.question_file}' cannot be read: {exc}",
                            fix="pass a UTF-8 text file holding the question") from None
    if args.question is None:
        raise UserError("no question given", fix='banglasim search "...", --question-file FILE, or - for stdin')
    return sys.stdin.read() if args.question == "-" else args.question


def run_cli(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k {args.top_k} is invalid", fix="pass a positive number")
    hits, status = search(read_question(args), Path(args.model), args.corpus, args.top_k, Path(args.cache_dir))
    print(f"corpus embeddings: {status}")
    for hit in hits:
        text = hit["text"] if len(hit["text"]) <= 160 else hit["text"][:157] + "..."
        print(f"{hit['rank']:>2}. {hit['score']:.4f}  [{', '.join(hit.get('sources', []))}] {hit.get('title', '')}")
        print(f"    {text}")
    return 0
