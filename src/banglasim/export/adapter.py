"""An export folder behind the part of SentenceTransformer's interface that evaluation uses: `encode`.

So the evaluate stage scores models/export with exactly the code it scores the fp32 models with
(sentence-transformers' evaluators call `model.encode(texts, prompt=..., batch_size=...)` and store
their metrics on `model.model_card_data`). No torch is needed for it.
"""

from __future__ import annotations

import os

import numpy as np

from banglasim.export.runtime import OnnxEncoder


class _NoCard:
    """Stands in for a model card: evaluators record their metrics on it; an export has nothing to record them in."""

    def set_evaluation_metrics(self, *args, **kwargs) -> None:
        return None


class ExportModel:
    """`encode(texts, prompt=...)` through the export's ONNX graph: float32, unit-length rows (cosine = dot)."""

    similarity_fn_name = "cosine"

    def __init__(self, export_dir: str | os.PathLike) -> None:
        self.encoder = OnnxEncoder(export_dir)
        self.prompts = dict(self.encoder.prompts)
        self.model_card_data = _NoCard()

    def window_tokenizer(self):
        """(tokenizers.Tokenizer, max_seq_length) that passage windows are cut with."""
        return self.encoder.tokenizer, self.encoder.max_seq_length

    def encode(
        self,
        sentences: str | list[str],
        prompt: str | None = None,
        prompt_name: str | None = None,
        batch_size: int = 32,
        **_ignored,
    ) -> np.ndarray:
        """Embeddings of `sentences`, the prompt given as text (`prompt`) or by name (`prompt_name`)."""
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        text = prompt if prompt is not None else self.encoder.prompt(prompt_name)
        emb = self.encoder.embed(texts, text, batch_size)
        return emb[0] if single else emb
