"""The re-ranker as a sentence-transformers CrossEncoder: its backbone, and its torch scorer for re-ranking.

`reranker.backbone: base` starts from models/base (the bi-encoder's base model, materialised offline by the
base_model stage: multilingual-e5-small reads Bengali and is a BERT-style encoder, so the library turns it into
a cross-encoder with a fresh one-logit head); any other value is a local folder of such an encoder.
`reranker.layers: N` keeps the backbone's first N transformer layers (the cost of reading every pair grows with
them); the word embeddings stay frozen in training, and with `reranker.trainable_layers: N` every layer below the
last N too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from banglasim.config.paths import BASE_MODEL_DIR
from banglasim.core.errors import UserError
from banglasim.models.folder import folder_digest
from banglasim.models.loading import encoder_layers


def backbone_dir(backbone: str) -> Path:
    """The folder `reranker.backbone` names (base: models/base); a UserError when it is not a model folder."""
    path = BASE_MODEL_DIR if backbone == "base" else Path(backbone)
    if not (path / "config.json").is_file():
        raise UserError(
            f"reranker.backbone = {backbone!r}: {path} is not a model folder (no config.json)",
            fix="use `base` (models/base, from `dvc repro base_model`) or a local folder of a BERT-style encoder",
        )
    return path


def load_backbone(path: Path, max_length: int, layers: int = 0):
    """A CrossEncoder with one output logit on top of the encoder at `path`, cut to its first `layers` layers."""
    from sentence_transformers import CrossEncoder

    config = {"num_hidden_layers": layers} if layers else None
    try:
        model = CrossEncoder(str(path), num_labels=1, max_length=max_length, config_kwargs=config, device="cpu")
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as a cross-encoder backbone: {exc}") from None
    have = getattr(model.model.config, "num_hidden_layers", None)
    if layers and have != layers:
        raise UserError(f"reranker.layers = {layers}: {path} has {have} layers", fix=f"set it to at most {have}")
    return model


def freeze_for_training(model, trainable_layers: int = 0) -> int:
    """Freeze the word embeddings (most of a multilingual model's weights) and, with `trainable_layers` N > 0, every
    embedding and every transformer layer below the last N (the head stays trainable); return the trainable
    parameters."""
    model.model.get_input_embeddings().weight.requires_grad = False
    if trainable_layers:
        layers = encoder_layers(model.model.base_model)
        if layers is None or trainable_layers > len(layers):
            have = "no layers it knows" if layers is None else f"{len(layers)} layers"
            raise UserError(f"reranker.trainable_layers = {trainable_layers}: the backbone has {have}")
        for param in model.model.base_model.embeddings.parameters():
            param.requires_grad = False
        for layer in layers[: len(layers) - trainable_layers]:
            for param in layer.parameters():
                param.requires_grad = False
    return sum(p.numel() for p in model.model.parameters() if p.requires_grad)


def load_reranker(path: Path):
    """A fine-tuned re-ranker folder (models/reranker) as a CrossEncoder."""
    from sentence_transformers import CrossEncoder

    if not (Path(path) / "config.json").is_file():
        raise UserError(f"{path}: no re-ranker here (no config.json)", fix="run `dvc repro train_reranker`")
    return CrossEncoder(str(path), device="cpu")


class TorchPairScorer:
    """A CrossEncoder as re-ranking's PairScorer: raw logits, pairs batched by the library."""

    def __init__(self, model, key: str | None = None) -> None:
        self.model = model
        self.max_length = int(model.max_seq_length)
        self.key = key or f"torch:{id(model)}"

    @classmethod
    def from_folder(cls, path: Path) -> TorchPairScorer:
        return cls(load_reranker(path), key=folder_digest(Path(path)))

    def score(self, questions: list[str], texts: list[str], batch_size: int = 32) -> np.ndarray:
        import torch

        if not questions:
            return np.zeros(0, dtype=np.float32)
        was_training = self.model.model.training
        scores = self.model.predict(
            list(zip(questions, texts)),
            batch_size=batch_size,
            activation_fn=torch.nn.Identity(),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        self.model.model.train(was_training)
        return np.asarray(scores, dtype=np.float32).reshape(-1)

    def window_tokenizer(self) -> tuple:
        from tokenizers import Tokenizer

        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise UserError("the re-ranker's tokenizer is not a fast one: windows cannot be cut")
        return Tokenizer.from_str(backend.to_str()), self.max_length
