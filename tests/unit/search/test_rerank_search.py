"""Re-ranking in search (Searcher.answers with a re-ranker), `--rerank/--no-rerank` and serve's "rerank" field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from banglasim.core.errors import UserError
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.lexical import Bm25Settings, LexicalIndex
from banglasim.retrieval.rerank import RerankSettings
from banglasim.search.engine import Searcher
from banglasim.search.query import checked_rerank
from banglasim.search.serve import BadRequest, parse_request

TEXTS = ["পদ্মা নদী বাংলাদেশে।", "পদ্মা নদীর ইলিশ।", "ঢাকা রাজধানী।", "যমুনা নদী।"]
PASSAGES = [{"passage_id": f"p-{i}", "title": "", "text": t} for i, t in enumerate(TEXTS)]


class OneHot:
    key, name, dim = "onehot", "onehot", 4

    def encode(self, texts, prompt_name):
        return np.eye(4, dtype=np.float32)[[len(t) % 4 for t in texts]]


class PrefersIlish:
    """A re-ranker that likes passages about ইলিশ."""

    key, max_length = "ilish", 64

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer

    def score(self, questions, texts, batch_size=32):
        return np.array([5.0 if "ইলিশ" in t else 0.0 for t in texts], dtype=np.float32)

    def window_tokenizer(self):
        return self.tokenizer, self.max_length


@pytest.fixture
def searcher(tiny_model_dir) -> Searcher:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    lexical = LexicalIndex.build(TEXTS, Bm25Settings())
    vectors = OneHot().encode(TEXTS, "passage")
    return Searcher(
        OneHot(), PASSAGES, vectors, None, None, lexical, "bm25", FusionSettings(), PrefersIlish(tokenizer),
        RerankSettings(top_k=3, weight=1.0),
    )  # fmt: skip


def test_rerank_reorders_the_first_stages_top_k_and_says_so(searcher):
    (plain,) = searcher.answers(["পদ্মা নদী বাংলাদেশে"], 3)
    assert plain["rerank"] is False and plain["hits"][0]["passage_id"] == "p-0"
    (reranked,) = searcher.answers(["পদ্মা নদী বাংলাদেশে"], 3, rerank=True)
    assert reranked["rerank"] is True
    assert [h["passage_id"] for h in reranked["hits"][:2]] == ["p-1", "p-0"]
    assert [h["rank"] for h in reranked["hits"]] == [1, 2, 3]
    assert all("rerank_score" in h for h in reranked["hits"])
    searcher.rerank = RerankSettings(top_k=1)  # below top_k: the first stage's order and score, no re-ranker score
    (top1,) = searcher.answers(["পদ্মা নদী বাংলাদেশে"], 3, rerank=True)
    assert [h["passage_id"] for h in top1["hits"]] == [h["passage_id"] for h in plain["hits"]]
    assert "rerank_score" in top1["hits"][0] and "rerank_score" not in top1["hits"][1]


def test_the_default_is_the_searchers_and_a_missing_reranker_is_refused(searcher):
    searcher.rerank_default = True
    assert searcher.answers(["পদ্মা নদী"], 2)[0]["rerank"] is True
    assert searcher.answers(["পদ্মা নদী"], 2, rerank=False)[0]["rerank"] is False
    searcher.reranker = None
    with pytest.raises(UserError, match="no re-ranker export"):
        checked_rerank(searcher, True)
    assert checked_rerank(searcher, False) is False


def test_serve_reads_the_rerank_field():
    body = json.dumps({"question": "পদ্মা নদী", "rerank": True}).encode()
    assert parse_request(body, can_rerank=True)[3] is True
    assert parse_request(json.dumps({"question": "নদী"}).encode())[3] is None
    with pytest.raises(BadRequest, match="no re-ranker"):
        parse_request(body, can_rerank=False)
    with pytest.raises(BadRequest, match="true or false"):
        parse_request(json.dumps({"question": "নদী", "rerank": "yes"}).encode(), can_rerank=True)
