"""Whole-corpus ranking (the headline of train's val_mrr_at_10 and of evaluate): one implementation, checked
against sentence-transformers' InformationRetrievalEvaluator, and what a training passage does to a rank."""

from __future__ import annotations

import numpy as np
import pytest
from qa_samples import ir_evaluator, sample_qa

from banglasim.config.params import EvaluateParams
from banglasim.evaluation.evaluate import compare, score_model
from banglasim.evaluation.evaluators import PairSimilarityEvaluator
from banglasim.evaluation.headline import HEADLINE_KEYS, headline
from banglasim.evaluation.metrics import cosine_ranks, pessimistic_ranks, retrieval_metrics
from banglasim.models.loading import load_model

CFG = EvaluateParams(batch_size=8, bootstrap_samples=40, seed=42)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = load_model(str(tiny_model_dir))
    model.eval()
    return model


def split_rows(passages: list[str], queries: list[str], positives: list[int], held: range) -> list[dict]:
    """Scored pairs of a held-out split (the questions of the passages in `held`), as the split stage writes
    them: each question's own passage (1.0) and the next passage of the split (0.0)."""
    rows = []
    held_list = list(held)
    for i, (q, pos) in enumerate(zip(queries, positives)):
        if pos not in held:
            continue
        neg = held_list[(held_list.index(pos) + 1) % len(held_list)]
        base = {"query_id": f"q{i}", "query": q, "source": "D2" if i % 2 else "D3"}
        rows.append({**base, "passage_id": f"p{pos}", "passage": passages[pos], "score": 1.0})
        rows.append({**base, "passage_id": f"p{neg}", "passage": passages[neg], "score": 0.0})
    return rows


# ---------------------------------------------------------------- cosine_ranks (pure numpy)


def test_cosine_ranks_is_the_pessimistic_rank_of_the_cosine_matrix_in_any_chunking():
    rng = np.random.default_rng(0)
    queries, corpus = rng.normal(size=(23, 5)), rng.normal(size=(40, 5)) * rng.uniform(0.1, 9, size=(40, 1))
    positives = rng.integers(0, 40, 23)
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    want = pessimistic_ranks(unit(queries) @ unit(corpus).T, positives)
    for chunk in (1, 7, 23, 512):
        assert cosine_ranks(queries, corpus, positives, chunk=chunk).tolist() == want.tolist()


def test_a_training_passage_that_outranks_the_own_passage_lowers_the_rank():
    split = np.array([[1.0, 0.0], [0.0, 1.0]])  # the split's passages
    queries = np.array([[0.9, 0.1], [0.2, 0.9]])  # each closest to its own passage
    assert cosine_ranks(queries, split, np.array([0, 1])).tolist() == [1, 1]
    corpus = np.vstack([split, [[1.0, 0.12]], [[-1.0, 0.0]]])  # + a training passage nearer to query 0, + a far one
    assert cosine_ranks(queries, corpus, np.array([0, 1])).tolist() == [2, 1]
    tie = np.vstack([split, [[2.0, 0.0]]])  # the same direction as query 0's own passage: a tie counts against it
    assert cosine_ranks(queries, tie, np.array([0, 1])).tolist() == [2, 1]


# ---------------------------------------------------------------- the evaluator, against the IR evaluator


def test_whole_corpus_ranks_agree_with_information_retrieval_evaluator(tiny):
    """Test questions of 6 passages, ranked against all 15 (9 of them training passages): the same MRR@10,
    nDCG@10 and Recall@k as sentence-transformers' InformationRetrievalEvaluator over the whole corpus."""
    passages, queries, positives = sample_qa(n_passages=15, per_passage=2)
    rows = split_rows(passages, queries, positives, range(6))
    ev = PairSimilarityEvaluator.from_rows(rows, batch_size=8, corpus=passages)
    pair = ev.pair_metrics(tiny)
    ours = retrieval_metrics(ev.ranks)
    assert pair["mrr_at_10"] == pytest.approx(ours["mrr_at_10"])
    asked = [(i, q) for i, (q, pos) in enumerate(zip(queries, positives)) if pos < 6]
    ir = ir_evaluator({f"q{i}": q for i, q in asked}, passages, {f"q{i}": positives[i] for i, _ in asked})
    theirs = ir(tiny)
    assert len(ev.ranks) == len(asked) and ev.ranks.max() <= len(passages)
    assert ev.ranks.max() > 6, "a non-trivial case: some question ranks a training passage above its own"
    assert ours["mrr_at_10"] == pytest.approx(theirs["ir_cosine_mrr@10"], abs=1e-6)
    assert ours["ndcg_at_10"] == pytest.approx(theirs["ir_cosine_ndcg@10"], abs=1e-6)
    for k in (1, 5, 10):
        assert ours[f"recall_at_{k}"] == pytest.approx(theirs[f"ir_cosine_recall@{k}"], abs=1e-6)
    # within the split: the same questions against the split's 6 passages only, never a worse rank
    assert ev.split_ranks.max() <= 6 and (ev.split_ranks <= ev.ranks).all()


def test_a_training_passage_identical_to_a_question_lowers_only_that_questions_rank(tiny):
    """A training passage with the text of a test question: its embedding is the question's (no prompts), so it
    outranks the question's own passage; every other question's rank is unchanged or one lower."""
    passages, queries, positives = sample_qa(n_passages=6, per_passage=2)
    rows = split_rows(passages, queries, positives, range(6))
    plain, plain_ranks = score_model(tiny, rows, CFG, corpus=passages)
    trap = rows[0]["query"]
    trapped, trapped_ranks = score_model(tiny, rows, CFG, corpus=[*passages, trap])
    assert trapped_ranks["corpus"][0] == plain_ranks["corpus"][0] + 1
    assert ((trapped_ranks["corpus"] - plain_ranks["corpus"])[1:] >= 0).all()
    assert (trapped_ranks["within_split"] == plain_ranks["within_split"]).all()
    assert trapped["metrics"]["mrr_at_10"] < plain["metrics"]["mrr_at_10"]
    assert trapped["within_split"]["mrr_at_10"] == plain["within_split"]["mrr_at_10"]
    assert (trapped["n_passages"], trapped["n_split_passages"]) == (7, 6)
    # the pair metrics come from the scored pairs, whatever the corpus
    for key in ("eval_score", "avg_cosine", "avg_cosine_negative"):
        assert trapped["metrics"][key] == pytest.approx(plain["metrics"][key])


# ---------------------------------------------------------------- evaluate's result: headline and secondary block


class Counting:
    """A model wrapper that counts the texts it embeds."""

    def __init__(self, model):
        self.model, self.texts = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode(self, sentences, **kwargs):
        self.texts += len(sentences)
        return self.model.encode(sentences, **kwargs)


def test_compare_headline_is_whole_corpus_with_the_within_split_block_beside_it(tiny):
    passages, queries, positives = sample_qa(n_passages=15, per_passage=2)
    splits = {
        "test": split_rows(passages, queries, positives, range(0, 4)),
        "validation": split_rows(passages, queries, positives, range(4, 8)),
    }
    model, memo = Counting(tiny), {}
    result = {name: compare(model, model, rows, CFG, {}, passages, memo) for name, rows in splits.items()}
    n_questions = sum(len({r["query_id"] for r in rows}) for rows in splits.values())
    assert model.texts == len(passages) + n_questions, "the corpus and each question embedded once, for both splits"
    test = result["test"]
    assert (test["n_passages"], test["n_split_passages"], test["n_queries"]) == (15, 4, 8)
    assert test["tuned"]["mrr_at_10"] <= test["within_split"]["tuned"]["mrr_at_10"]
    for block in (test, test["within_split"]):
        assert block["delta"]["mrr_at_10"] == 0.0  # the same model twice
        assert block["delta"]["mrr_at_10_ci_low"] == block["delta"]["mrr_at_10_ci_high"] == 0.0
        assert block["tuned"]["mrr_at_10_ci_low"] <= block["tuned"]["mrr_at_10"] <= block["tuned"]["mrr_at_10_ci_high"]
    top = headline(result)
    assert top["test"]["tuned"]["mrr_at_10"] == test["tuned"]["mrr_at_10"]
    assert "within_split" not in top["test"]
    n_values = sum(len(v) for split in top.values() for v in split.values())
    assert n_values == sum(len(keys) for model, keys in HEADLINE_KEYS.items() if model in test) <= 15
