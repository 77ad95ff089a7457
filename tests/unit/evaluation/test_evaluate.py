"""Retrieval metrics, their agreement with sentence-transformers' IR evaluator, and the bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qa_samples import ir_evaluator, sample_qa, validation_rows

from banglasim.config.params import EvaluateParams
from banglasim.core.errors import UserError
from banglasim.evaluation.evaluate import score_model
from banglasim.evaluation.evaluators import PairSimilarityEvaluator
from banglasim.evaluation.metrics import bootstrap_ci, check_embeddings, pessimistic_ranks, retrieval_metrics
from banglasim.evaluation.report import COMPARED
from banglasim.models.loading import load_model


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    model = load_model(str(tiny_model_dir))
    model.eval()
    return model


# ---------------------------------------------------------------- retrieval_metrics


def test_retrieval_metrics_on_known_ranks():
    m = retrieval_metrics(np.array([1, 2, 11]))
    assert m["mrr_at_10"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["recall_at_1"] == pytest.approx(1 / 3)
    assert m["recall_at_5"] == pytest.approx(2 / 3)
    assert m["recall_at_10"] == pytest.approx(2 / 3)
    assert m["ndcg_at_10"] == pytest.approx((1 + 1 / math.log2(3)) / 3)


def test_retrieval_metrics_edges():
    perfect = retrieval_metrics(np.array([1, 1, 1]))
    assert all(v == pytest.approx(1.0) for v in perfect.values())
    m = retrieval_metrics(np.array([10, 5]))
    assert m["mrr_at_10"] == pytest.approx((0.1 + 0.2) / 2)
    assert m["recall_at_5"] == pytest.approx(0.5)
    assert m["recall_at_10"] == pytest.approx(1.0)
    assert m["ndcg_at_10"] == pytest.approx((1 / math.log2(11) + 1 / math.log2(6)) / 2)
    missed = retrieval_metrics(np.array([11, 500]))
    assert all(v == 0.0 for v in missed.values())


# ---------------------------------------------------------------- agreement with InformationRetrievalEvaluator


def passage_ranks(model, queries, corpus, positives, batch_size):
    """Ranks through the pair evaluator, as train and evaluate compute them: each query's positive pair and one
    negative pair; the ranking corpus is every passage of a positive pair (here: all of them)."""
    assert set(positives) == set(range(len(corpus)))
    q, p, labels = [], [], []
    for query, pos in zip(queries, positives):
        q += [query, query]
        p += [corpus[pos], corpus[(pos + 1) % len(corpus)]]
        labels += [1.0, 0.0]
    ev = PairSimilarityEvaluator(q, p, labels, batch_size=batch_size)
    ev.pair_metrics(model)
    order = {text: i for i, text in enumerate(dict.fromkeys(p[0::2]))}
    ranks = ev.ranks
    # the evaluator ranks against passages in first-seen order; the same ranks whatever the order
    assert len(order) == len(corpus)
    return ranks


def test_pessimistic_ranks_count_ties_against_the_right_passage():
    scores = np.array([[0.9, 0.5, 0.9], [0.2, 0.2, 0.2], [0.1, 0.8, 0.3]])
    assert pessimistic_ranks(scores, np.array([0, 1, 1])).tolist() == [2, 3, 1]


def test_a_collapsed_model_scores_mrr_near_zero_not_one():
    """Identical embeddings for every text: every passage ties with the right one, which ranks last."""
    n = 30
    scores = np.ones((n, n))
    ranks = pessimistic_ranks(scores, np.arange(n))
    assert (ranks == n).all()
    assert retrieval_metrics(ranks)["mrr_at_10"] == 0.0


def test_collapsed_or_nan_embeddings_stop_evaluation_with_a_clear_error():
    with pytest.raises(UserError, match="identical"):
        check_embeddings(np.ones((5, 8)), "passage embeddings")
    with pytest.raises(UserError, match="NaN"):
        check_embeddings(np.array([[0.1, np.nan], [0.2, 0.3]]), "query embeddings")
    check_embeddings(np.eye(3), "fine")


class Collapsed:
    """Wraps a model so that every text gets the same embedding (as a model collapsed by training would)."""

    def __init__(self, model):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def encode(self, sentences, **kwargs):
        out = self.model.encode(sentences, **kwargs)
        return np.ones_like(out)


def test_score_model_refuses_a_collapsed_model(tiny):
    rows = validation_rows()
    with pytest.raises(UserError, match="collapsed"):
        score_model(Collapsed(tiny), rows, EvaluateParams(batch_size=4, bootstrap_samples=0, seed=0))


def test_passage_ranks_agree_with_information_retrieval_evaluator(tiny):
    passages, queries, positives = sample_qa()
    ranks = passage_ranks(tiny, queries, passages, positives, batch_size=8)
    assert ranks.shape == (len(queries),)
    assert ranks.min() >= 1 and ranks.max() <= len(passages)
    ours = retrieval_metrics(ranks)

    ir = ir_evaluator(
        {f"q{i}": q for i, q in enumerate(queries)}, passages, {f"q{i}": pos for i, pos in enumerate(positives)}
    )
    theirs = ir(tiny)
    assert tiny.similarity_fn_name == "cosine"
    assert ours["mrr_at_10"] == pytest.approx(theirs["ir_cosine_mrr@10"], abs=1e-6)
    assert ours["ndcg_at_10"] == pytest.approx(theirs["ir_cosine_ndcg@10"], abs=1e-6)
    for k in (1, 5, 10):
        # one relevant passage per query: recall@k == accuracy@k
        assert ours[f"recall_at_{k}"] == pytest.approx(theirs[f"ir_cosine_recall@{k}"], abs=1e-6)
        assert ours[f"recall_at_{k}"] == pytest.approx(theirs[f"ir_cosine_accuracy@{k}"], abs=1e-6)
    assert 0 < ours["recall_at_10"] < 1 or ours["mrr_at_10"] < 1  # a non-trivial case, not all rank 1


# ---------------------------------------------------------------- bootstrap_ci


def bootstrap_inputs(n_queries: int = 40, seed: int = 3):
    rng = np.random.default_rng(seed)
    ranks = rng.integers(1, 15, n_queries)
    pair_query = np.repeat(np.arange(n_queries), 2)  # one positive and one negative pair per query
    labels = np.tile([1.0, 0.0], n_queries)
    pair_cos = np.where(labels == 1.0, 0.6, 0.4) + rng.normal(0, 0.15, len(labels))
    return ranks, pair_query, pair_cos, labels


def test_bootstrap_ci_is_deterministic_for_a_seed():
    args = bootstrap_inputs()
    a = bootstrap_ci(*args, samples=200, seed=42)
    b = bootstrap_ci(*args, samples=200, seed=42)
    assert a == b
    c = bootstrap_ci(*args, samples=200, seed=7)
    assert c != a


def test_bootstrap_ci_brackets_the_point_estimate():
    from scipy.stats import spearmanr

    ranks, pair_query, pair_cos, labels = bootstrap_inputs()
    ci = bootstrap_ci(ranks, pair_query, pair_cos, labels, samples=300, seed=42)
    assert set(ci) == {"mrr_at_10", "eval_score"}
    mrr = retrieval_metrics(ranks)["mrr_at_10"]
    score = spearmanr(labels, pair_cos).statistic
    for name, point in (("mrr_at_10", mrr), ("eval_score", score)):
        low, high = ci[name]
        assert np.isfinite(low) and np.isfinite(high)
        assert low <= point <= high, name
        assert low < high


def test_bootstrap_ci_zero_samples_gives_no_intervals():
    assert bootstrap_ci(*bootstrap_inputs(), samples=0, seed=42) == {}


# ---------------------------------------------------------------- the pair evaluator and score_model


def test_pair_evaluator_average_cosines(tiny):
    rows = validation_rows()
    ev = PairSimilarityEvaluator(
        [r["query"] for r in rows], [r["passage"] for r in rows], [r["score"] for r in rows], batch_size=4
    )
    out = ev.pair_metrics(tiny)
    q = tiny.encode([r["query"] for r in rows], normalize_embeddings=True)
    p = tiny.encode([r["passage"] for r in rows], normalize_embeddings=True)
    cos = (q * p).sum(axis=1)
    labels = np.array([r["score"] for r in rows])
    assert out["avg_cosine"] == pytest.approx(cos[labels == 1].mean(), abs=1e-5)
    assert out["avg_cosine_negative"] == pytest.approx(cos[labels == 0].mean(), abs=1e-5)
    assert out["cosine_gap"] == pytest.approx(out["avg_cosine"] - out["avg_cosine_negative"], abs=1e-9)
    from scipy.stats import spearmanr

    assert out["eval_score"] == pytest.approx(spearmanr(labels, cos).statistic, abs=1e-4)
    # the Trainer's log keys are the evaluator's own, prefixed with "eval_"
    from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_SCORE_KEY

    raw = ev(tiny)
    assert raw[TRAINER_SCORE_KEY.removeprefix("eval_")] == pytest.approx(out["eval_score"])
    assert raw[TRAINER_COSINE_KEY.removeprefix("eval_")] == pytest.approx(out["avg_cosine"])


def test_score_model_metrics_and_per_source(tiny):
    rows = validation_rows()
    cfg = EvaluateParams(batch_size=4, bootstrap_samples=30, seed=42)
    result, ranks = score_model(tiny, rows, cfg)
    m = result["metrics"]
    n_queries = len({r["query_id"] for r in rows})
    assert len(ranks["corpus"]) == n_queries
    assert m["mrr_at_10"] == pytest.approx(retrieval_metrics(ranks["corpus"])["mrr_at_10"])
    # without a corpus, the corpus is the split's own passages: both rankings are the same
    assert (ranks["corpus"] == ranks["within_split"]).all()
    assert result["n_passages"] == result["n_split_passages"] == len({r["passage_id"] for r in rows if r["score"]})
    for key in (
        *COMPARED,
        "mrr_at_10_ci_low",
        "mrr_at_10_ci_high",
        "eval_score_ci_low",
        "eval_score_ci_high",
    ):
        assert key in m and np.isfinite(m[key]), key
    assert m["mrr_at_10_ci_low"] <= m["mrr_at_10_ci_high"]
    assert set(result["per_source_mrr_at_10"]) == {"D2", "D3"}
    again, _ = score_model(tiny, rows, cfg)
    assert again == result
