"""Encode texts with an export folder (models/export): onnxruntime + tokenizers + numpy, no torch.

    from banglasim.export.runtime import OnnxEncoder
    encoder = OnnxEncoder("models/export")                   # reads manifest.json, tokenizer.json, model.onnx
    questions = encoder.encode(["..."], prompt_name="query")    # float32 [n, dim], unit rows
    passages = encoder.encode(["..."], prompt_name="passage")

`encode(texts, prompt_name)` prepends the prompt the model was trained with (manifest "prompts"), tokenizes
with the folder's tokenizer.json (truncation at the manifest's max_seq_length, batch padding), takes the
attention mask from the encodings and runs the graph, which mean-pools (or whatever the model pools) and
L2-normalises. Texts are batched by length, so padding costs little; the output keeps the input order.
The model is identified by `encoder.model_sha256` (the manifest's hash of model.onnx): nothing re-reads
the weights to key a cache. Importing this module imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
FORMAT = "banglasim-export/1"


def cpu_session(model_file: Path, threads: int | None = None):
    """An onnxruntime CPU session of a graph, quiet, without busy-waiting between runs: onnxruntime's spinning
    threads would hold the cores while numpy's BLAS scores the question against the passages (search: 35 ms of
    scoring stalled behind 35 ms of encoding)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """An export folder loaded once: `encode(texts, prompt_name)` -> normalised float32 embeddings."""

    def __init__(self, export_dir: str | os.PathLike, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        self.export_dir = Path(export_dir)
        self.manifest = json.loads((self.export_dir / MANIFEST).read_text(encoding="utf-8"))
        if self.manifest.get("format") != FORMAT:
            raise ValueError(
                f"{self.export_dir / MANIFEST}: format {self.manifest.get('format')!r}, expected {FORMAT!r}"
            )
        self.prompts: dict[str, str] = dict(self.manifest["prompts"])
        self.dim: int = int(self.manifest["dim"])
        self.max_seq_length: int = int(self.manifest["max_seq_length"])
        self.model_sha256: str = self.manifest["model_sha256"]
        self.tokenizer = Tokenizer.from_file(str(self.export_dir / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(self.max_seq_length)
        if self.tokenizer.padding is None:  # the pad id is irrelevant: padded positions are masked out
            self.tokenizer.enable_padding(pad_id=self.manifest.get("pad_id", 0))
        self.session = cpu_session(self.export_dir / MODEL_FILE, threads)

    def prompt(self, prompt_name: str | None) -> str:
        """The prompt text of a prompt name ("query", "passage"); None -> no prompt."""
        if prompt_name is None:
            return ""
        if prompt_name not in self.prompts:
            raise KeyError(f"prompt {prompt_name!r} is not one of this export's prompts ({', '.join(self.prompts)})")
        return self.prompts[prompt_name]

    def encode(self, texts: list[str], prompt_name: str | None = "query", batch_size: int = 32) -> np.ndarray:
        """Embeddings of `texts` with the named prompt: float32 [len(texts), dim], each row of unit length."""
        return self.embed(texts, self.prompt(prompt_name), batch_size)

    def embed(self, texts: list[str], prompt: str = "", batch_size: int = 32) -> np.ndarray:
        """Embeddings of `texts`, each prefixed with the prompt text `prompt`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([prompt + texts[i] for i in idx])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            }
            out[idx] = self.session.run(["sentence_embedding"], feeds)[0]
        return out


def export_embeddings(
    export_dir: str | os.PathLike, texts: list[str], prompt_name: str | None, batch_size: int = 32
) -> np.ndarray:
    """One-shot: the export's embeddings of `texts` (for evaluation, next to a model's `encode`)."""
    return OnnxEncoder(export_dir).encode(texts, prompt_name, batch_size)
