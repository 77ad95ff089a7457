"""`banglasim search "<question>"`: rank passages for a Bengali question with the published model.

Corpus embeddings are cached on disk, keyed by a hash of the model's files and of the corpus
texts, so a second search over the same corpus only embeds the question.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from banglasim import atomic
from banglasim.errors import UserError
from banglasim.formats import normalize
from banglasim.prepare import PREPARED_DIR, collect


def load_corpus(corpus: str | None) -> list[dict]:
    """Passages with their sources: the prepared ones, or those of a folder in any format prepare reads."""
    if corpus is None:
        path = PREPARED_DIR / "passages.jsonl"
        if not path.exists():
            raise UserError(f"{path}: not found", fix="run `dvc repro` first, or pass --corpus FOLDER")
        return atomic.read_jsonl(path)
    if not Path(corpus).is_dir():
        raise UserError(f"--corpus '{corpus}' is not a folder", fix="pass a folder of QA files (.json/.jsonl/.csv/.tsv)")
    found = collect([corpus], on_error="skip", max_chars=10**7)
    return [found["passages"][pid] for pid in sorted(found["passages"])]


def folder_hash(folder: Path) -> str:
    """Hash of every file's name and bytes under a model folder."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def corpus_embeddings(model, model_dir: Path, texts: list[str], cache_dir: Path) -> tuple[np.ndarray, bool]:
    """Embeddings of the corpus, from the cache when model and corpus are unchanged. Returns (emb, from_cache)."""
    key = hashlib.sha256(folder_hash(model_dir).encode())
    for text in texts:
        key.update(text.encode("utf-8") + b"\x00")
    path = cache_dir / f"{key.hexdigest()[:24]}.npy"
    if path.exists():
        return np.load(path), True
    emb = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb, False


def search(question: str, model_dir: Path, corpus: str | None, top_k: int, cache_dir: Path) -> tuple[list[dict], bool]:
    """Top-k passages for the question, each with its cosine score; and whether the corpus came from cache."""
    if not (model_dir / "modules.json").exists():
        raise UserError(f"no trained model at '{model_dir}'", fix="run `dvc repro` (or `dvc repro train`) first")
    if not question.strip():
        raise UserError("the question is empty", fix='pass a question: banglasim search "..."')
    from banglasim.modeling import load_model

    passages = load_corpus(corpus)
    model = load_model(str(model_dir))
    emb, cached = corpus_embeddings(model, model_dir, [p["text"] for p in passages], cache_dir)
    q = model.encode([normalize(question)], normalize_embeddings=True, convert_to_numpy=True)[0]
    scores = emb @ q
    order = np.argsort(-scores, kind="stable")[:top_k]
    return [{**passages[i], "score": float(scores[i]), "rank": r + 1} for r, i in enumerate(order)], cached


def run_cli(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise UserError(f"--top-k {args.top_k} is invalid", fix="pass a positive number")
    hits, cached = search(args.question, Path(args.model), args.corpus, args.top_k, Path(args.cache_dir))
    print(f"corpus embeddings: {'from cache' if cached else 'computed and cached'}")
    for hit in hits:
        text = hit["text"] if len(hit["text"]) <= 160 else hit["text"][:157] + "..."
        print(f"{hit['rank']:>2}. {hit['score']:.4f}  [{', '.join(hit.get('sources', []))}] {hit.get('title', '')}")
        print(f"    {text}")
    return 0
