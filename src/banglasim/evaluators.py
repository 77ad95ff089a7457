"""Validation metrics shared by train and evaluate: the reference's eval score and average cosines.

`PairSimilarityEvaluator` is sentence-transformers' EmbeddingSimilarityEvaluator (its cosine
Spearman is the eval score), plus the mean cosine of the positive pairs (`avg_cosine`), of the
negative pairs, and their gap. Each distinct text is embedded once per call.
"""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

from banglasim import atomic

EVAL_NAME = "val"


class PairSimilarityEvaluator(EmbeddingSimilarityEvaluator):
    """EmbeddingSimilarityEvaluator over (query, passage, score) pairs, with average cosines added."""

    def __init__(self, queries: list[str], passages: list[str], scores: list[float], batch_size: int = 32) -> None:
        super().__init__(queries, passages, scores, batch_size=batch_size, main_similarity="cosine",
                         name=EVAL_NAME, write_csv=False)
        self._last: list[np.ndarray] = []

    @classmethod
    def from_file(cls, path: str, batch_size: int = 32) -> PairSimilarityEvaluator:
        rows = atomic.read_jsonl(path)
        return cls([r["query"] for r in rows], [r["passage"] for r in rows], [float(r["score"]) for r in rows],
                   batch_size=batch_size)

    def embed_inputs(self, model: SentenceTransformer, sentences, **kwargs) -> np.ndarray:
        """Embed each distinct text once (passages recur across queries), then expand."""
        unique = list(dict.fromkeys(sentences))
        index = {text: i for i, text in enumerate(unique)}
        emb = super().embed_inputs(model, unique, **kwargs)
        out = emb[[index[s] for s in sentences]]
        self._last.append(out)
        return out

    def __call__(self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1,
                 steps: int = -1) -> dict[str, float]:
        self._last = []
        metrics = super().__call__(model, output_path, epoch, steps)
        q, p = self._last[0], self._last[1]
        cos = np.sum(q * p, axis=1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(p, axis=1) + 1e-12)
        labels = np.asarray(self.scores)
        extra = {"avg_cosine": float(cos[labels >= 0.5].mean())}
        if (labels < 0.5).any():
            extra["avg_cosine_negative"] = float(cos[labels < 0.5].mean())
            extra["cosine_gap"] = extra["avg_cosine"] - extra["avg_cosine_negative"]
        metrics.update(self.prefix_name_to_metrics(extra, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        self.pair_cosines = cos
        return {k: float(v) for k, v in metrics.items()}

    @property
    def score_key(self) -> str:
        return f"{self.name}_spearman_cosine"

    @property
    def cosine_key(self) -> str:
        return f"{self.name}_avg_cosine"
