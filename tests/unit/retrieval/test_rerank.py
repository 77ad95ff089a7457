"""Re-ranking (retrieval/rerank.py): windows for a question, best-window scores, the fusion with the first stage,
and ranks after re-ranking, with a stand-in scorer and the tiny model's tokenizer."""

from __future__ import annotations

import numpy as np
import pytest

from banglasim.retrieval.rerank import (
    RerankSettings,
    WindowCutter,
    best_window_scores,
    fuse_rerank,
    reorder,
    rerank_ranks,
)


class MarkScorer:
    """Scores a pair 1 + (mark count) when the text holds the mark 'X', else 0; records every call."""

    key = "mark"

    def __init__(self, tokenizer, max_length: int = 32) -> None:
        self.tokenizer, self.max_length, self.pairs = tokenizer, max_length, []

    def score(self, questions, texts, batch_size=32):
        self.pairs += list(zip(questions, texts))
        return np.array([t.count("X") for t in texts], dtype=np.float32)

    def window_tokenizer(self):
        return self.tokenizer, self.max_length


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))


def test_a_bert_pair_takes_three_special_pieces(tokenizer):
    assert WindowCutter(tokenizer, 32, 4).specials == 3


def test_a_long_passage_scores_as_its_best_window(tokenizer):
    long = "ক " * 40 + "X " + "খ " * 40  # the mark sits in a later window only
    scorer = MarkScorer(tokenizer)
    (scores,) = best_window_scores(["প্রশ্ন"], [[long, "গ"]], scorer, overlap=4, batch_size=8)
    assert scores.tolist() == [1.0, 0.0]
    spans = WindowCutter(tokenizer, 32, 4).spans("প্রশ্ন", [long])[0]
    assert len(spans) > 1 and len(scorer.pairs) == len(spans) + 1
    assert all(len(tokenizer.encode(q, t).ids) <= 32 for q, t in scorer.pairs)  # question + window fit max_length


def test_weight_one_is_the_re_rankers_order_and_lower_weights_blend_in_the_first_stage():
    first, model = np.array([3.0, 2.0, 1.0]), np.array([0.0, 0.0, 5.0])
    assert fuse_rerank(first, model, 1.0).tolist() == model.tolist()
    rows, _ = reorder(np.array([7, 8, 9]), first, model, 1.0)
    assert rows.tolist() == [9, 7, 8]  # ties keep the first stage's order
    rows, _ = reorder(np.array([7, 8, 9]), first, model, 0.0)
    assert rows.tolist() == [7, 8, 9]


def test_ranks_move_inside_top_k_and_stay_outside_it():
    rows = [np.array([4, 2, 0, 1]), np.array([1, 3, 0, 2])]
    first = [np.array([4.0, 3.0, 2.0, 1.0])] * 2
    scored = [np.array([0.0, 0.0, 9.0, 0.0]), np.array([0.0, 0.0, 0.0, 9.0])]
    first_ranks = np.array([3, 4])
    ranks = rerank_ranks(["a", "b"], rows, first, first_ranks, np.array([0, 2]), scored, RerankSettings(top_k=3))
    assert ranks.tolist() == [1, 4]  # question 0's passage was 3rd, now 1st; question 1's was 4th, not re-ranked
