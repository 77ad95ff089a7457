"""A Sentence Transformers folder as a search encoder (models/model): the slow exact path, kept for comparison.

It imports torch and sentence-transformers and keys caches by a digest of every byte of the folder, as
`banglasim search` did before the export.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from banglasim.core.errors import UserError
from banglasim.models.folder import folder_digest, missing_model_files
from banglasim.models.loading import load_model, quiet_library_bars, show_progress
from banglasim.search.encoders import check_tokenizer


def missing_tokenizer(model_dir: Path) -> list[str]:
    """tokenizer.json of the Transformer module when it is missing: the train stage always saves it, and without it
    transformers may build a fallback tokenizer that reads every word as unknown (exit 0, wrong answers)."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # missing_model_files names modules.json
    paths = [
        Path(str(m.get("path", "")))
        for m in (modules if isinstance(modules, list) else [])
        if isinstance(m, dict) and str(m.get("type", "")).rsplit(".", 1)[-1] == "Transformer"
    ]
    return [(sub / "tokenizer.json").as_posix() for sub in paths if not (model_dir / sub / "tokenizer.json").is_file()]


class SentenceTransformerEncoder:
    """A Sentence Transformers folder (models/model): the slow exact path, kept for comparison."""

    def __init__(self, model_dir: Path) -> None:
        missing = missing_model_files(Path(model_dir)) + missing_tokenizer(Path(model_dir))
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
        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
        if backend is not None:
            check_tokenizer(backend, f"--model '{model_dir}'", "restore the folder (dvc checkout) or rerun train")
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
