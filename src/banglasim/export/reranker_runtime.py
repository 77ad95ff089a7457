"""Score (question, passage) pairs with a re-ranker export folder (models/reranker_export), without torch.

    from banglasim.export.reranker_runtime import OnnxPairScorer
    scorer = OnnxPairScorer("models/reranker_export")     # reads manifest.json, tokenizer.json, model.onnx
    logits = scorer.score(["question", ...], ["passage", ...])  # float32 [n], one per pair, higher = better

The folder's tokenizer.json encodes each pair with the model's special tokens and type ids, truncating the
pair to the manifest's max_length (longest first) and padding each batch. Pairs are batched by length;
the output keeps the input order. `scorer.key` (the manifest's hash of model.onnx) identifies the model.
Importing this module imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from banglasim.export.runtime import MANIFEST, MODEL_FILE, TOKENIZER_FILE, cpu_session

FORMAT = "banglasim-reranker/1"
OUTPUT_NAME = "logits"


class OnnxPairScorer:
    """A re-ranker export folder loaded once: `score(questions, texts)` -> float32 logits, one per pair."""

    def __init__(self, export_dir: str | os.PathLike, threads: int | None = None) -> None:

        self.export_dir = Path(export_dir)
        self.manifest = json.loads((self.export_dir / MANIFEST).read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise ValueError(
                f"{self.export_dir / MANIFEST}: format {self.manifest.get('format')!r}, expected {FORMAT!r}"
                " (not a re-ranker export)"
            )
        self.key: str = self.manifest["model_sha256"]
        self.max_length: int = int(self.manifest["max_length"])
        self.inputs: list[str] = list(self.manifest["inputs"])
        self.tokenizer = Tokenizer.from_file(str(self.export_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(self.max_length, strategy="longest_first")
        if self.tokenizer.padding is None:  # the pad id is irrelevant: padded positions are masked out
            self.tokenizer.enable_padding(pad_id=self.manifest.get("pad_id", 0))
        self.session = cpu_session(self.export_dir / MODEL_FILE, threads)

    def score(self, questions: list[str], texts: list[str], batch_size: int = 32) -> np.ndarray:
        """The logit of each (questions[i], texts[i]) pair: float32 [len(texts)], in input order."""
        if len(questions) != len(texts):
            raise ValueError(f"{len(questions)} questions but {len(texts)} texts: one question per text")
        out = np.zeros(len(texts), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(questions[i]) + len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([(questions[i], texts[i]) for i in idx])
            columns = {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
                "token_type_ids": [e.type_ids for e in encodings],
            }
            feeds = {name: np.array(columns[name], dtype=np.int64) for name in self.inputs}
            out[idx] = self.session.run([OUTPUT_NAME], feeds)[0].reshape(-1)
        return out

    def window_tokenizer(self) -> tuple[Tokenizer, int]:
        """(a fresh copy of the folder's tokenizers.Tokenizer, max_length): for cutting passages into windows."""
        return Tokenizer.from_file(str(self.export_dir / TOKENIZER_FILE)), self.max_length
