"""Re-ranking in evaluate (evaluation/reranking.py): the hybrid's top passages re-ranked, the paired changes against
BM25 and the hybrid, the export's parity block and the validation sweep, with stand-in scorers."""

from __future__ import annotations

import numpy as np
import pytest

from banglasim.evaluation.reranking import SWEEP_WEIGHTS, hybrid_orders, rerank_note, reranked_block
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.rerank import RerankSettings

CORPUS = ["নদী এক", "নদী দুই", "নদী তিন", "পাহাড়", "সমুদ্র"]


class Oracle:
    """Knows each question's own passage (its text is the question's answer key)."""

    key, max_length = "oracle", 64

    def __init__(self, tokenizer, own: dict[str, str]) -> None:
        self.tokenizer, self.own = tokenizer, own

    def score(self, questions, texts, batch_size=32):
        return np.array([5.0 if self.own[q] == t else 0.0 for q, t in zip(questions, texts)], dtype=np.float32)

    def window_tokenizer(self):
        return self.tokenizer, self.max_length


@pytest.fixture
def scored():
    dense = np.array([[0.9, 0.8, 0.7, 0.1, 0.0], [0.1, 0.9, 0.8, 0.7, 0.0], [0.0, 0.1, 0.2, 0.3, 0.9]])
    return {"corpus": CORPUS, "queries": ["ক", "খ", "গ"], "corpus_scores": dense, "positive_rows": np.array([2, 1, 0])}


def test_the_re_ranked_block_against_bm25_and_the_hybrid(scored, tiny_model_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    oracle = Oracle(tokenizer, {"ক": CORPUS[2], "খ": CORPUS[1], "গ": CORPUS[0]})
    fusion = FusionSettings(dense_weight=1.0, candidates=5)
    rows, _ = hybrid_orders(scored["corpus_scores"], [None] * 3, fusion, 5)
    assert rows[0].tolist() == [0, 1, 2, 3, 4]
    first = {"bm25": np.array([3, 1, 5]), "hybrid": np.array([3, 1, 5])}
    out = reranked_block(
        scored, [None] * 3, first, fusion, {"reranker": oracle, "export": oracle}, RerankSettings(top_k=3), 20, 0, True
    )
    assert out["reranked"]["mrr_at_10"] == pytest.approx((1 + 1 + 1 / 5) / 3)  # the third is below top_k: stays 5th
    assert out["reranked_vs_hybrid"]["mrr_at_10"] == pytest.approx((1 - 1 / 3) / 3)
    assert out["reranked_export_vs_reranked"]["mrr_at_10"] == 0
    assert out["rerank"]["first_stage_recall_at_top_k"] == pytest.approx(2 / 3)
    assert len(out["rerank_sweep"]) == 3 * len(SWEEP_WEIGHTS)  # top_k 5, 10, 20 (each capped by the corpus)
    note = "\n".join(rerank_note({**out, "hybrid": {"mrr_at_10": 0.5}}))
    assert "Re-ranking the hybrid's top 3" in note and "export - fp32 +0.0000" in note
