"""Hybrid search at scale: BM25 (bm25s) build time, size, load and query time, and per-question latency of each mode.

    PYTHONPATH=src python benchmarks/hybrid_scale.py [--passages 1000000] [--questions 200] [--export models/export]
    PYTHONPATH=src python benchmarks/hybrid_scale.py --real-index models/index --export models/export \
        [--questions-file FILE | --repo .] [--questions 200]

Synthetic mode (issue 24, point 6): --passages made-up Bengali-like passages, deterministic from --seed.
Words are runs of Bengali consonants and vowel signs (--vocabulary distinct words, 5.4 letters and signs
on average; real words: 5.6) drawn with Zipf-like frequencies (exponent --zipf); 15% of words are the
analyser's stop words; passage lengths are log-normal around the real data's (D2-D4: median 108 words,
p95 475). Each question is a question word plus 4-7 words of one random passage (BM25 should find it: its
recall@10 is a sanity figure). BM25 is `LexicalIndex.build` with params.yaml's settings, saved, loaded back
(mmap=True; mmap=False as search loads it today) and asked each question (`scores` + the top 10, the work
Searcher does). The dense side: unit vectors of a Gaussian mixture (benchmarks/ann_index.py's, one window per
passage) and, above --approximate-above passages as the index stage does, a faiss IVF index with default
AnnSettings. Searcher's `answers([q], 10, mode)` is timed one question at a time; its encoder returns a
precomputed query vector (the question's passage's vector plus noise), so those figures are retrieval only,
unless --export DIR encodes the questions with a real ONNX export (then dense recall means nothing).
Real mode: `open_searcher(--export, --real-index)`, as `banglasim search` opens it, and real questions.
Load times read files just written or cached (warm page cache). Speed figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from banglasim.data.formats import normalize
from banglasim.retrieval.fusion import FusionSettings, top_rows
from banglasim.retrieval.lexical import STOPWORDS, Bm25Settings, LexicalIndex
from banglasim.search.engine import Searcher

CONSONANTS = "কখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহ"
VOWEL_SIGNS = ["", "", "", "া", "ি", "ী", "ু", "ূ", "ে", "ো", "ৈ", "ৌ", "ৃ", "ং", "্র"]
VOWELS = "অআইঈউঊএওঐঔ"
QUESTION_WORDS = ["কী", "কে", "কোথায়", "কবে", "কত", "কোন", "কেন"]
STOP_SHARE = 0.15  # share of stop words among a passage's words (real data: median 108.5 words, 93.5 terms)
CHUNK = 10_000  # passages generated at once
BYTES_PER_WORD = 110  # the BM25 build's peak RSS growth per passage word (measured at 20,000 and 100,000 passages)


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def meminfo_gib(key: str) -> float:
    return next(int(line.split()[1]) for line in Path("/proc/meminfo").open() if line.startswith(key)) / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    import bm25s

    cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").open() if line.startswith("model name"))
    return (
        f"{cpu}, nproc {len(os.sched_getaffinity(0))}, {meminfo_gib('MemTotal'):.0f} GiB RAM, load average "
        f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; Python {platform.python_version()}, numpy "
        f"{np.__version__}, bm25s {bm25s.__version__}"
    )


def p50_p95(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"{np.percentile(ms, 50):.2f} | {np.percentile(ms, 95):.2f}"


def vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    """`size` distinct made-up words in random order (rank = frequency rank), then the stop words."""
    words: dict[str, None] = {}
    while len(words) < size:
        m = 2 * (size - len(words))
        syllables = rng.choice([1, 2, 3, 4], size=m, p=[0.1, 0.35, 0.3, 0.25])
        vowel = np.where(rng.random(m) < 0.2, rng.integers(0, len(VOWELS), m), -1)
        cons, signs = rng.integers(0, len(CONSONANTS), (m, 4)), rng.integers(0, len(VOWEL_SIGNS), (m, 4))
        for n, v, c, g in zip(syllables.tolist(), vowel.tolist(), cons.tolist(), signs.tolist()):
            word = (VOWELS[v] if v >= 0 else "") + "".join(CONSONANTS[c[j]] + VOWEL_SIGNS[g[j]] for j in range(n))
            if word not in STOPWORDS and len(words) < size:
                words[word] = None
    return list(words) + sorted(STOPWORDS)


def corpus(args: argparse.Namespace) -> tuple[list[str], list[str], np.ndarray]:
    """(passage texts, questions, each question's passage row), generated CHUNK passages at a time."""
    rng, qrng = np.random.default_rng(args.seed), np.random.default_rng(args.seed + 1)
    words = vocabulary(args.vocabulary, rng)
    made_up, stops = args.vocabulary, len(words) - args.vocabulary
    cdf = np.cumsum(np.arange(1, made_up + 1, dtype=np.float64) ** -args.zipf)
    cdf /= cdf[-1]
    rows = np.sort(qrng.choice(args.passages, min(args.questions, args.passages), replace=False))
    texts, questions, wanted = [], {}, set(rows.tolist())
    for start in range(0, args.passages, CHUNK):
        m = min(CHUNK, args.passages - start)
        lengths = np.clip(np.rint(rng.lognormal(np.log(args.median_words), 0.9, m)), 5, 5000).astype(np.int64)
        ids = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), made_up - 1)
        stop = rng.random(len(ids)) < STOP_SHARE
        ids[stop] = made_up + rng.integers(0, stops, int(stop.sum()))
        for i, seg in enumerate(np.split(ids, np.cumsum(lengths)[:-1])):
            texts.append(" ".join(map(words.__getitem__, seg.tolist())))
            if start + i in wanted:
                content = seg[seg < made_up]
                take = np.sort(qrng.choice(len(content), min(len(content), int(qrng.integers(4, 8))), replace=False))
                picked = [words[w] for w in content[take]] + [QUESTION_WORDS[qrng.integers(len(QUESTION_WORDS))]]
                questions[start + i] = " ".join(picked) + "?"
    return texts, [questions[r] for r in rows], rows


def folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def bm25_questions(lexical: LexicalIndex, questions: list[str], rows: np.ndarray) -> tuple[str, float]:
    """(p50 | p95 ms of scores + top 10 per question, recall@10 of each question's passage)."""
    for q in questions[:3]:  # warm-up
        lexical.scores(q)
    times, found = [], 0
    for q, row in zip(questions, rows):
        start = time.perf_counter()
        scores = lexical.scores(q)
        top = top_rows(scores, 10) if scores is not None else np.zeros(0, dtype=np.int64)
        times.append(time.perf_counter() - start)
        found += int(row in top)
    return p50_p95(times), found / len(questions)


def bench_bm25(texts: list[str], questions: list[str], rows: np.ndarray, work: Path) -> LexicalIndex:
    """BM25 figures; returns the index loaded as search loads it (mmap=False)."""
    settings = Bm25Settings()
    before, start = rss_mib(), time.perf_counter()
    built = LexicalIndex.build(texts, settings)
    took, grown = time.perf_counter() - start, peak_mib() - before
    start = time.perf_counter()
    for text in texts[::10]:  # the analyser alone, on every 10th passage
        settings.analyzer.terms(text)
    analyser = (time.perf_counter() - start) * len(texts) / len(texts[::10])
    nonzeros, terms = len(built.retriever.scores["data"]), built.vocabulary_size()
    folder = work / "lexical"
    folder.mkdir()
    start = time.perf_counter()
    built.save(folder)
    saved = time.perf_counter() - start
    del built  # no cycles: its memory goes now
    table = [
        ("settings", f"k1 {settings.k1}, b {settings.b}, analyser {settings.analyzer.as_dict()}"),
        ("build (`LexicalIndex.build`)", f"{took:.1f} s ({len(texts) / took:,.0f} passages/s)"),
        ("- analyser (estimated from every 10th passage)", f"{analyser:.1f} s"),
        ("- bm25s indexing (the rest)", f"{took - analyser:.1f} s"),
        ("terms / nonzeros (passage, term pairs)", f"{terms:,} / {nonzeros:,}"),
        ("peak RSS growth while building / process peak", f"+{grown:,.0f} MiB / {peak_mib():,.0f} MiB"),
        ("`save` / lexical/ folder on disk", f"{saved:.1f} s / {folder_mib(folder):,.0f} MiB"),
    ]
    for mmap in (True, False):
        before, start = rss_mib(), time.perf_counter()
        lexical = LexicalIndex.load(folder, settings, mmap=mmap)
        took = time.perf_counter() - start
        latency, recall = bm25_questions(lexical, questions, rows)
        label = "mmap=True" if mmap else "mmap=False, as search loads it"
        table.append(
            (f"load, {label} (RSS growth after the questions)", f"{took:.2f} s ({rss_mib() - before:+,.0f} MiB)")
        )
        table.append((f"question: `scores` + top 10, {label}: p50 / p95 ms", latency.replace("|", "/")))
    table.append(("recall@10 of the question's passage (sanity)", f"{recall:.3f}"))
    print(f"\n## BM25 ({len(texts):,} passages, {len(questions)} questions)\n\n| | value |\n|---|---:|")
    for name, value in table:
        print(f"| {name} | {value} |")
    return lexical


class Passages(Sequence):
    """Passage dicts made on demand from the texts (the hits' fields), without a million dicts in memory."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, row):  # type: ignore[override]
        return {"passage_id": str(row), "title": "", "text": self.texts[row]}


class FixedEncoder:
    """The encoder of the retrieval-only figures: each question's precomputed vector (no model runs)."""

    key = "synthetic"

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def time_modes(searcher: Searcher, questions: list[str], rows: np.ndarray | None) -> None:
    """Markdown rows: each mode's p50 / p95 of `answers([q], 10, mode)`, and recall@10 where each question's
    passage_id (`rows`) is known."""
    for mode in searcher.modes():
        searcher.answers(questions[:3], 10, mode)  # warm-up
        times, found, errors = [], 0, 0
        for i, q in enumerate(questions):
            start = time.perf_counter()
            (answer,) = searcher.answers([q], 10, mode)
            times.append(time.perf_counter() - start)
            errors += "error" in answer
            found += rows is not None and str(rows[i]) in {h["passage_id"] for h in answer.get("hits", [])}
        recall = f"{found / len(questions):.3f}" if rows is not None else "-"
        print(f"| {mode} | {p50_p95(times)} | {recall} | {errors} |")
    encoder_times = []
    for q in questions:
        start = time.perf_counter()
        searcher.encoder.encode([q], "query")
        encoder_times.append(time.perf_counter() - start)
    print(f"| (question encoding alone) | {p50_p95(encoder_times)} | | |")


MODE_HEADER = "\n| mode | p50 ms | p95 ms | recall@10 | unanswered |\n|---|---:|---:|---:|---:|"


def synthetic(args: argparse.Namespace) -> None:
    from ann_index import synthetic as mixture  # benchmarks/ann_index.py (this folder is on sys.path)

    from banglasim.search.ann import AnnSettings, FaissIndex

    start = time.perf_counter()
    texts, questions, rows = corpus(args)
    counts = np.array([t.count(" ") + 1 for t in texts])
    print(
        f"\n## Corpus\n\n{len(texts):,} synthetic passages in {time.perf_counter() - start:.1f} s: words per passage "
        f"median {np.median(counts):.0f}, p95 {np.percentile(counts, 95):.0f}, max {counts.max():,} ({counts.sum():,} "
        f"words); vocabulary {args.vocabulary:,} made-up words (Zipf {args.zipf}) + stop words; RSS "
        f"{rss_mib():,.0f} MiB. Question e.g.: {questions[0]}"
    )
    need, free = counts.sum() * BYTES_PER_WORD / 2**30, meminfo_gib("MemAvailable")
    if need > 0.9 * free:
        print(f"\n**warning**: the BM25 build needs about {need:.1f} GiB more, {free:.1f} GiB is available")
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        lexical = bench_bm25(texts, questions, rows, Path(tmp))
        from banglasim.search.encoders import ExportEncoder

        encoder = ExportEncoder(Path(args.export)) if args.export else None
        dim = getattr(encoder, "dim", None) or args.dim
        start = time.perf_counter()
        vectors, _ = mixture(args.passages, dim, 0, args.seed)
        noise = (0.5 / np.sqrt(dim)) * np.random.default_rng(args.seed + 2).standard_normal((len(rows), dim))
        queries = (vectors[rows] + noise.astype(np.float32)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        took = time.perf_counter() - start
        line = f"{len(vectors):,} x {dim} vectors ({vectors.nbytes / 2**20:,.0f} MiB) in {took:.1f} s"
        ann = None
        if args.passages > args.approximate_above:
            settings, start = AnnSettings(), time.perf_counter()
            ann = FaissIndex.build(vectors, settings)
            line += (
                f"; faiss IVF{settings.lists_for(len(vectors))},SQ8 (nprobe {settings.nprobe}) built in "
                f"{time.perf_counter() - start:.1f} s"
            )
        else:
            line += f"; exact search (not above --approximate-above {args.approximate_above:,})"
        encoder = encoder or FixedEncoder(dict(zip(questions, queries)))
        searcher = Searcher(encoder, Passages(texts), vectors, ann, None, lexical, "hybrid", FusionSettings())
        what = f"encoding by {args.export}" if args.export else "retrieval only (precomputed query vectors)"
        print(
            f"\n## Searcher.answers([q], 10, mode), one question at a time, {what}\n\n{line}, RSS {rss_mib():,.0f} MiB"
        )
        print(MODE_HEADER)
        time_modes(searcher, questions, None if args.export else rows)


def real(args: argparse.Namespace) -> None:
    from banglasim.search.query import open_searcher

    own = None  # each question's passage_id, where known (test.jsonl: its score-1.0 row)
    if args.questions_file:
        lines = Path(args.questions_file).read_text(encoding="utf-8").splitlines()
    else:
        split = Path(args.repo) / "data" / "splits" / "test.jsonl"
        pairs = [json.loads(line) for line in split.read_text(encoding="utf-8").splitlines() if line.strip()]
        pairs = [p for p in pairs if p.get("score", 1.0) == 1.0]  # one row per question (the rest: negatives)
        lines, own = [p["query"] for p in pairs], np.array([p["passage_id"] for p in pairs])
    keep = [i for i, q in enumerate(lines) if q.strip()][: args.questions]
    questions, own = [normalize(lines[i]) for i in keep], None if own is None else own[keep]
    before, start = rss_mib(), time.perf_counter()
    searcher, origin = open_searcher(args.export, args.real_index)
    took = time.perf_counter() - start
    print(
        f"\n## Real index: {origin}\n\nopened in {took:.2f} s (RSS {rss_mib() - before:+,.0f} MiB); "
        f"{len(questions)} questions, `answers([q], 10, mode)` one at a time, question encoding included"
    )
    print(MODE_HEADER)
    time_modes(searcher, questions, own)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--questions", type=int, default=200, help="questions asked (real mode: at most)")
    parser.add_argument("--vocabulary", type=int, default=200_000, help="made-up words")
    parser.add_argument("--zipf", type=float, default=1.1, help="word-frequency exponent")
    parser.add_argument("--median-words", type=float, default=108, help="median words per passage")
    parser.add_argument("--dim", type=int, default=384, help="vector width (without --export)")
    parser.add_argument("--approximate-above", type=int, default=100_000, help="faiss index above this (index stage)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", help="ONNX export folder: encode the questions with it")
    parser.add_argument("--work", default=None, help="scratch folder for the saved BM25 index (default: /tmp)")
    parser.add_argument("--real-index", help="a real index folder (models/index); needs --export")
    parser.add_argument("--questions-file", help="real mode: questions, one per line")
    parser.add_argument("--repo", default=".", help="real mode without --questions-file: data/splits/test.jsonl")
    args = parser.parse_args()
    if args.real_index and not args.export:
        parser.error("--real-index needs --export")
    start = time.perf_counter()
    print(f"# Hybrid search at scale\n\n{machine()}")
    if args.real_index:
        real(args)
    else:
        synthetic(args)
    print(f"\ntotal {time.perf_counter() - start:.0f} s, peak RSS {peak_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
