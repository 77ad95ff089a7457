"""Hybrid search (search/engine.py Searcher): modes, each retriever's score on a hit, the dense-only fallback,
windows, the approximate path, and one fusion implementation shared with evaluate."""

from __future__ import annotations

import numpy as np
import pytest

from banglasim.evaluation.retrievers import bm25_ranks
from banglasim.retrieval.fusion import FusionSettings, hybrid_ranks
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex
from banglasim.search.ann import AnnSettings, FaissIndex
from banglasim.search.engine import NO_LEXICAL_NOTE, Searcher

TEXTS = [
    "পদ্মা বাংলাদেশের একটি প্রধান নদী।",
    "ঢাকা বাংলাদেশের রাজধানী।",
    "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।",
    "রসগোল্লা একটি জনপ্রিয় মিষ্টি।",
    "যমুনা একটি বড় নদী।",
    "সুন্দরবন পৃথিবীর বৃহত্তম ম্যানগ্রোভ বন।",
]
PASSAGES = [{"passage_id": f"p-{i}", "title": "", "text": t} for i, t in enumerate(TEXTS)]
QUESTIONS = ["পদ্মা কোন দেশের নদী?", "বাংলাদেশের রাজধানী কোথায়?", "পৃথিবীর উপগ্রহ কী?", "মিষ্টি", "😀 ???"]


class HashEncoder:
    """Deterministic unit vectors from a text's hash: a stand-in model with no weights."""

    key, name, dim = "hash", "hash", 16

    def encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        rows = [np.random.default_rng(abs(hash((t, prompt_name))) % 2**32).normal(size=self.dim) for t in texts]
        emb = np.array(rows, dtype=np.float32)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


@pytest.fixture
def searcher() -> Searcher:
    encoder = HashEncoder()
    windows = [t for t in TEXTS for _ in (0, 1)]  # two windows a passage
    owner = np.repeat(np.arange(len(TEXTS)), 2)
    vectors = encoder.encode([f"{t} {i}" for i, t in enumerate(windows)], "passage")
    lexical = LexicalIndex.build(TEXTS, Bm25Settings())
    return Searcher(encoder, PASSAGES, vectors, None, owner, lexical, "hybrid", FusionSettings(candidates=3))


def test_hybrid_hits_carry_the_fused_dense_and_lexical_scores(searcher):
    (answer,) = searcher.answers([QUESTIONS[0]], 3)
    assert answer["mode"] == "hybrid" and "note" not in answer
    assert all({"score", "dense_score", "lexical_score"} <= set(h) for h in answer["hits"])
    assert answer["hits"][0]["passage_id"] == "p-0"  # BM25 knows the rare word


def test_each_mode_ranks_by_its_own_score(searcher):
    dense = searcher.answers([QUESTIONS[1]], 6, "dense")[0]["hits"]
    assert [h["score"] for h in dense] == [h["dense_score"] for h in dense] == sorted(h["score"] for h in dense)[::-1]
    bm25 = searcher.answers([QUESTIONS[1]], 6, "bm25")[0]["hits"]
    assert bm25[0]["passage_id"] == "p-1" and all(h["lexical_score"] > 0 for h in bm25)


def test_a_question_bm25_cannot_read_is_ranked_densely_and_says_so(searcher):
    (answer,) = searcher.answers([QUESTIONS[4]], 3)
    assert answer["note"] == NO_LEXICAL_NOTE and len(answer["hits"]) == 3
    assert [h["passage_id"] for h in answer["hits"]] == [
        h["passage_id"] for h in searcher.answers([QUESTIONS[4]], 3, "dense")[0]["hits"]
    ]
    assert "error" in searcher.answers([QUESTIONS[4]], 3, "bm25")[0]


def test_evaluate_and_search_rank_through_the_same_fusion(searcher):
    vectors = searcher.encoder.encode(QUESTIONS, "query")
    dense = searcher.dense_all(vectors)
    lexical = [searcher.lexical.scores(q) for q in QUESTIONS]
    for own in range(len(TEXTS)):
        positives = np.full(len(QUESTIONS), own)
        ranks = hybrid_ranks(dense, lexical, positives, searcher.fusion)
        for question, rank in zip(QUESTIONS, ranks):
            hits = [h["passage_id"] for h in searcher.answers([question], len(TEXTS))[0]["hits"]]
            assert (hits.index(f"p-{own}") + 1 if f"p-{own}" in hits else len(TEXTS) + 1) == rank
        keyword = bm25_ranks(lexical, positives, len(TEXTS))
        for question, rank in zip(QUESTIONS[:4], keyword[:4]):
            hits = [h["passage_id"] for h in searcher.answers([question], len(TEXTS), "bm25")[0]["hits"]]
            if f"p-{own}" in hits:
                assert hits.index(f"p-{own}") + 1 == rank


def test_the_approximate_path_finds_what_the_exact_one_does_on_a_small_corpus(searcher):
    ann = FaissIndex.build(searcher.vectors, AnnSettings(nlist=2, nprobe=2))
    approximate = Searcher(
        searcher.encoder,
        PASSAGES,
        searcher.vectors,
        ann,
        searcher.windows.owner,
        searcher.lexical,
        "hybrid",
        searcher.fusion,
    )
    for mode in ("hybrid", "dense"):
        for question in QUESTIONS:
            exact = searcher.answers([question], 3, mode)[0]["hits"]
            approx = approximate.answers([question], 3, mode)[0]["hits"]
            assert [h["passage_id"] for h in approx] == [h["passage_id"] for h in exact]
