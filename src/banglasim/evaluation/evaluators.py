"""Metrics shared by train and evaluate: the reference's eval score and average cosines, and retrieval ranks.

`PairSimilarityEvaluator` is sentence-transformers' EmbeddingSimilarityEvaluator (its cosine
Spearman is the eval score) over scored (query, passage) pairs, plus the mean cosine of the positive
pairs (`avg_cosine`), of the negative pairs, their gap, and MRR@10 of each query's own passage.

Retrieval is ranked twice: against the whole `corpus` (every passage of the prepared data, training
passages included: what a search engine holds, and the headline `mrr_at_10`), and within the split (the
passages of the positive pairs only: `split_ranks`, a secondary figure). Without a corpus both are the
within-split ranking. With `windows` (retrieval.window_*), a passage is read as overlapping token windows
and scores as its best window (retrieval/windows.py), as the index and search read it; the pairs of the
eval score and average cosine stay whole passages (truncated), as the reference measured them. Each
distinct text is embedded once per call (passages and windows with the passage prompt, questions with the
query prompt). NaN or identical embeddings stop the run with a clear error.
"""

from __future__ import annotations

import math

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from banglasim.core.errors import UserError
from banglasim.evaluation.metrics import check_embeddings, normalised, pessimistic_ranks, retrieval_metrics
from banglasim.models.loading import show_progress
from banglasim.retrieval.windows import Windows, WindowSettings, best_window, cut_windows, model_tokenizer

EVAL_NAME = "val"
SCORE_METRIC = f"{EVAL_NAME}_spearman_cosine"  # the eval score: EmbeddingSimilarityEvaluator's cosine Spearman
COSINE_METRIC = f"{EVAL_NAME}_avg_cosine"
MRR_METRIC = f"{EVAL_NAME}_mrr_at_10"  # whole corpus when the evaluator has one (train and evaluate give it)
# the Trainer logs an evaluator's metrics with an "eval_" prefix: these are the keys in its log history
TRAINER_SCORE_KEY = f"eval_{SCORE_METRIC}"
TRAINER_COSINE_KEY = f"eval_{COSINE_METRIC}"
TRAINER_MRR_KEY = f"eval_{MRR_METRIC}"


class PairSimilarityEvaluator(EmbeddingSimilarityEvaluator):
    """EmbeddingSimilarityEvaluator over (query, passage, score) pairs, with average cosines and MRR@10 added."""

    def __init__(
        self,
        queries: list[str],
        passages: list[str],
        scores: list[float],
        batch_size: int = 32,
        prompts: dict[str, str] | None = None,
        corpus: list[str] | None = None,
        memo: dict | None = None,
        windows: WindowSettings | None = None,
    ) -> None:
        super().__init__(
            queries, passages, scores, batch_size=batch_size, main_similarity="cosine", name=EVAL_NAME, write_csv=False
        )
        self.prompts = prompts or {}  # "query" and "passage" prompts, as the model is trained with them
        positive = [s for s, score in zip(passages, scores) if score >= 0.5]
        # the passages each question is ranked against: the whole corpus (positives' own passages added if
        # missing), else the split's (the passages of the positive pairs)
        self.split_corpus = list(dict.fromkeys(positive))
        self.corpus = list(dict.fromkeys([*corpus, *positive])) if corpus is not None else self.split_corpus
        self.show_progress_bar = show_progress(len(set(queries)) + len(set(passages) | set(self.corpus)))
        # texts already embedded, {(id(model), prompt): {text: embedding}}, shared by evaluators of one model
        # that does not change between calls (evaluate: validation and test against one corpus); None in training
        self.memo = memo
        self.window_settings = windows or WindowSettings(tokens=0)
        self._windows: dict[tuple[int, int], Windows] = {}  # (id(model), id(passage list)) -> its windows
        self._embedded: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        self.corpus_scores = np.zeros((0, 0), dtype=np.float32)  # [positive pairs, corpus]: dense passage scores
        self.positive_rows = np.zeros(0, dtype=int)  # each positive pair's passage row in self.corpus
        self.pair_cosines = np.zeros(0)
        self.ranks = np.zeros(0, dtype=int)  # of each positive pair's query among the corpus, in pair order
        self.split_ranks = np.zeros(0, dtype=int)  # the same among the split's passages only

    @classmethod
    def from_rows(
        cls,
        rows: list[dict],
        batch_size: int = 64,
        prompts: dict[str, str] | None = None,
        corpus: list[str] | None = None,
        memo: dict | None = None,
        windows: WindowSettings | None = None,
    ) -> PairSimilarityEvaluator:
        """From the scored pairs the split stage writes (query, passage, score), ranked against `corpus`."""
        return cls(
            [r["query"] for r in rows],
            [r["passage"] for r in rows],
            [float(r["score"]) for r in rows],
            batch_size=batch_size,
            prompts=prompts,
            corpus=corpus,
            memo=memo,
            windows=windows,
        )

    def windows_of(self, model, texts: list[str]) -> Windows:
        """The windows the model reads `texts` as (each text whole when windows are off)."""
        key = (id(model), id(texts))
        if key not in self._windows:
            if self.window_settings.enabled:
                tokenizer, max_seq_length = model_tokenizer(model)
                prompt = self.prompts.get("passage") or ""
                self._windows[key] = cut_windows(texts, tokenizer, self.window_settings, max_seq_length, prompt)
            else:
                self._windows[key] = Windows.whole(texts)
        return self._windows[key]

    def embed_inputs(self, model: SentenceTransformer, sentences, **kwargs) -> np.ndarray:
        """Embed each distinct text once, with the query or passage prompt; the passage side with the corpus."""
        side = "query" if sentences is self.sentences1 else "passage"
        if self.prompts.get(side):
            kwargs["prompt"] = self.prompts[side]
        if side == "passage":
            self._model = model
            texts = [*sentences, *self.windows_of(model, self.corpus).texts]
            if self.split_corpus is not self.corpus:
                texts += self.windows_of(model, self.split_corpus).texts
        else:
            texts = sentences
        unique = list(dict.fromkeys(texts))
        index = {text: i for i, text in enumerate(unique)}
        known = {} if self.memo is None else self.memo.setdefault((id(model), kwargs.get("prompt")), {})
        todo = [t for t in unique if t not in known]
        if todo:
            known.update(zip(todo, super().embed_inputs(model, todo, **kwargs)))
        emb = np.stack([known[t] for t in unique])
        check_embeddings(emb, f"{side} embeddings of {len(unique)} texts")
        self._embedded[side] = (index, emb)
        return emb[[index[s] for s in sentences]]

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        metrics = super().__call__(model, output_path, epoch, steps)
        q, p = self._expanded("query", self.sentences1), self._expanded("passage", self.sentences2)
        cos = np.sum(normalised(q) * normalised(p), axis=1)
        labels = np.asarray(self.scores)
        positive = labels >= 0.5
        extra = {"avg_cosine": float(cos[positive].mean())}
        if (~positive).any():
            extra["avg_cosine_negative"] = float(cos[~positive].mean())
            extra["cosine_gap"] = extra["avg_cosine"] - extra["avg_cosine_negative"]
        own = [s for s, ok in zip(self.sentences2, positive) if ok]
        where = {text: i for i, text in enumerate(self.corpus)}
        self.positive_rows = np.array([where[s] for s in own], dtype=int)
        self.corpus_scores = self._passage_scores(q[positive], self.corpus)
        self.ranks = pessimistic_ranks(self.corpus_scores, self.positive_rows)
        self.split_ranks = (
            self.ranks if self.corpus is self.split_corpus else self._ranks(q[positive], self.split_corpus, own)
        )
        extra["mrr_at_10"] = retrieval_metrics(self.ranks)["mrr_at_10"]
        metrics.update(self.prefix_name_to_metrics(extra, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        self.pair_cosines = cos
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if bad:
            fix = (
                "the eval score needs pairs scored 0.0 as well as 1.0: rerun the split stage, which writes "
                "split.negatives_per_query of them per question from at least 2 passages"
                if positive.all()
                else "check the validation pairs (query, passage, score) that the split stage wrote"
            )
            raise UserError(f"validation metric(s) {', '.join(bad)} are undefined (NaN) for this data", fix=fix)
        return {k: float(v) for k, v in metrics.items()}

    def _passage_scores(self, queries: np.ndarray, corpus: list[str]) -> np.ndarray:
        """Cosine of each query with each passage of `corpus` (its best window), from the last call's embeddings."""
        windows = self.windows_of(self._model, corpus)
        return best_window(normalised(queries) @ normalised(self._expanded("passage", windows.texts)).T, windows)

    def _ranks(self, queries: np.ndarray, corpus: list[str], own: list[str]) -> np.ndarray:
        """Rank of each query's own passage (`own`) among `corpus`, from the last call's passage embeddings."""
        where = {text: i for i, text in enumerate(corpus)}
        return pessimistic_ranks(self._passage_scores(queries, corpus), np.array([where[s] for s in own]))

    def _expanded(self, side: str, texts: list[str]) -> np.ndarray:
        """The embeddings of `texts` from the last call's distinct texts of that side."""
        index, emb = self._embedded[side]
        return emb[[index[t] for t in texts]]

    def pair_metrics(self, model: SentenceTransformer) -> dict[str, float]:
        """eval_score, avg_cosine, mrr_at_10 and, with negative pairs, avg_cosine_negative and cosine_gap."""
        metrics = self(model)
        out = {"eval_score": metrics[SCORE_METRIC]}
        for name in ("avg_cosine", "avg_cosine_negative", "cosine_gap", "mrr_at_10"):
            if f"{EVAL_NAME}_{name}" in metrics:
                out[name] = metrics[f"{EVAL_NAME}_{name}"]
        return out
