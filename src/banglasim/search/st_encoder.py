"""A Sentence Transformers folder as a search encoder (models/model): the slow exact path, kept for comparison.

It imports torch and sentence-transformers and keys caches by a digest of every byte of the folder, as
`banglasim search` did before the export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from banglasim.core.errors import UserError
from banglasim.models.folder import folder_digest, missing_model_files
from banglasim.models.loading import load_model, quiet_library_bars, show_progress


class SentenceTransformerEncoder:
    """A Sentence Transformers folder (models/model): the slow exact path, kept for comparison."""

    def __init__(self, model_dir: Path) -> None:
        missing = missing_model_files(Path(model_dir))
        if missing:
            raise UserError(
                f"--model '{model_dir}' is incomplete: {', '.join(missing)} missing",
                fix="restore the folder (dvc checkout, or dvc pull) or rerun the train stage (dvc repro -f train); "
                "never delete files of a saved model",
            )
        quiet_library_bars()
        try:
            self.model = load_model(str(model_dir))
            self.model.encode(["প্রশ্ন"], convert_to_numpy=True)  # a tokenizer or weights that load yet cannot embed
        except UserError as exc:
            raise UserError(
                f"--model '{model_dir}' could not be loaded: {exc.message.split(': ', 1)[-1]}",
                fix="pass --model a folder saved by the train stage (models/model), or rerun it",
            ) from None
        except Exception as exc:  # noqa: BLE001 - corrupt weights: safetensors/torch raise their own types
            raise UserError(
                f"--model '{model_dir}' could not be loaded: {type(exc).__name__}: {exc}",
                fix="its files are damaged: rerun the train stage (dvc repro -f train) or restore them (dvc checkout)",
            ) from None
        self.key = folder_digest(Path(model_dir))
        self.model_sha256 = self.key
        self.dim = self.model.get_embedding_dimension()
        self.name = str(model_dir)

    def prompt(self, prompt_name: str) -> str:
        return (self.model.prompts or {}).get(prompt_name) or ""

    def window_tokenizer(self):
        """(tokenizers.Tokenizer, max_seq_length) that passage windows are cut with."""
        from banglasim.retrieval.windows import model_tokenizer

        return model_tokenizer(self.model)

    def encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        prompt = (self.model.prompts or {}).get(prompt_name) or None
        bar = prompt_name == "passage" and show_progress(len(texts))
        return self.model.encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, prompt=prompt, show_progress_bar=bar
        )
