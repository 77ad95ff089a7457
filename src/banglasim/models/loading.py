"""Model loading: one path for a built-in model, a local folder, or a Hugging Face hub id; layer freezing."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling

from banglasim.core.errors import UserError
from banglasim.models.registry import BUILTIN_MODELS, resolve_model_name

PROMPT_NAMES = ("query", "passage")
LAYER_PATHS = ("encoder.layer", "transformer.layer", "encoder.layers", "layers")


def quiet_library_bars() -> None:
    """No loading/saving/mapping bars from transformers, datasets and the hub when stderr is not a terminal."""
    if sys.stderr.isatty():
        return
    import datasets
    import huggingface_hub
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    huggingface_hub.utils.disable_progress_bars()


def show_progress(n_texts: int) -> bool:
    """A progress bar for long encodings (hundreds of texts), on a terminal only: no carriage returns in logs."""
    return n_texts >= 256 and sys.stderr.isatty()


def load_model(
    name: str, max_seq_length: int | None = None, pooling: str | None = None, device: str | None = None
) -> SentenceTransformer:
    """Load a SentenceTransformer, set its max_seq_length and pooling mode; a clear error if it can't be had."""
    path = resolve_model_name(name)
    is_local = Path(path).exists()
    if not is_local and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise UserError(
            f"model.name '{name}' is not an existing folder", fix="point model.name at a saved model folder"
        )
    try:  # never a download: a hub id must already be in the Hugging Face cache
        model = SentenceTransformer(path, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UserError(
            f"model.name '{name}' could not be loaded: {str(exc).splitlines()[0]}",
            fix=f"use {' or '.join(BUILTIN_MODELS)}, a local model folder, or a hub id already in the "
            "Hugging Face cache (download it where the hub is reachable: hf download <id>)",
        ) from None
    except Exception as exc:  # damaged weights: safetensors and torch raise their own types
        raise UserError(
            f"model '{name}' could not be loaded: {type(exc).__name__}: {str(exc)[:200]}",
            fix="its files are damaged: rebuild them (dvc repro -f the stage that wrote them) "
            "or restore them (dvc checkout)",
        ) from None
    if max_seq_length is not None:
        limit = position_limit(model[0].auto_model)
        if limit is not None and max_seq_length > limit:
            raise UserError(
                f"param model.max_seq_length = {max_seq_length} is invalid; it must be at most {limit}, "
                f"the number of positions model '{name}' has",
                fix=f"set model.max_seq_length to {limit} or less",
            )
        model.max_seq_length = max_seq_length
    if pooling is not None:
        set_pooling(model, pooling)
    return model


def position_limit(auto_model: torch.nn.Module) -> int | None:
    """The longest input (in tokens) a Hugging Face encoder can embed, from its absolute position table; None when
    it has none (rotary or relative positions). RoBERTa/XLM-R positions start after the padding index."""
    config = auto_model.config
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    padding_idx = getattr(getattr(auto_model, "embeddings", None), "padding_idx", None)
    return positions - (padding_idx + 1 if isinstance(padding_idx, int) else 0)


def resolve_prompts(model: SentenceTransformer, query_prompt: str | None, passage_prompt: str | None) -> dict[str, str]:
    """The query and passage prompts: the params' when set, else the model's own ("" for a model without)."""
    own = model.prompts or {}
    chosen = {"query": query_prompt, "passage": passage_prompt}
    return {name: own.get(name, "") if chosen[name] is None else chosen[name] for name in PROMPT_NAMES}


def retrieval_prompts(prompts: dict[str, str]) -> dict[str, str]:
    """The prompts to save with a model so that sentence-transformers' retrieval API applies the trained ones.

    `encode_document` uses the first of the "document", "passage", "corpus" prompts a model has, and the
    library gives every model a "document" prompt ("" unless set); so "document" must carry the passage
    prompt, or `encode_document` silently drops it. `encode_query` uses "query".
    """
    out = dict(prompts)
    if "passage" in out:
        out["document"] = out["passage"]
    return out


def set_pooling(model: SentenceTransformer, mode: str) -> None:
    """Replace the Pooling module with one of the given mode (a no-op when it already has it)."""
    for idx, module in enumerate(model):
        if isinstance(module, Pooling):
            if module.pooling_mode != mode:
                model[idx] = Pooling(module.embedding_dimension, pooling_mode=mode)
            return
    raise UserError(
        f"the model has no Pooling module to set model.pooling={mode!r} on "
        f"(embedding dim {model.get_embedding_dimension()})"
    )


def encoder_layers(auto_model: torch.nn.Module) -> torch.nn.ModuleList | None:
    """The stack of layers of a Hugging Face encoder (BERT, RoBERTa, XLM-R, DistilBERT, MPNet style), or None."""
    for dotted in LAYER_PATHS:
        obj = auto_model
        for attr in dotted.split("."):
            obj = getattr(obj, attr, None)
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    return None


def transformer_layers(model: SentenceTransformer) -> torch.nn.ModuleList:
    """The transformer layers of a Sentence Transformer; a UserError when it has none we know."""
    auto = model[0].auto_model
    layers = encoder_layers(auto)
    if layers is None:
        raise UserError(
            f"cannot find the transformer layers of {type(auto).__name__} to freeze",
            fix="use a BERT-like encoder model",
        )
    return layers


def freeze_all_but_last(model: SentenceTransformer, trainable_layers: int) -> tuple[int, int]:
    """Freeze embeddings and every layer but the last `trainable_layers`. Returns (trainable, total) layers."""
    layers = transformer_layers(model)
    if trainable_layers > len(layers):
        raise UserError(
            f"param model.trainable_layers = {trainable_layers} is invalid; "
            f"it must be an integer from 1 to {len(layers)} (this model's layer count)"
        )
    for param in model.parameters():
        param.requires_grad = False
    for layer in layers[len(layers) - trainable_layers :]:
        for param in layer.parameters():
            param.requires_grad = True
    return trainable_layers, len(layers)
