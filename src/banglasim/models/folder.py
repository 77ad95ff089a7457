"""Saved model folders as files: their digest, the files they need, the Transformer module's loading kwargs (no torch
needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def folder_digest(folder: Path) -> str:
    """sha256 over the names and bytes of every file under a (model) folder."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of one (large) file, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def set_transformer_kwargs(folder: Path, model_kwargs: dict) -> None:
    """Write the Transformer module's `model_kwargs` (e.g. e5's add_pooling_layer: false) into a saved model:
    the library does not save them, and without them every load would add an unused random pooler."""
    config = folder / "sentence_bert_config.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**data, "model_kwargs": model_kwargs}, indent=2) + "\n", encoding="utf-8")


def transformer_kwargs(folder: Path) -> dict:
    """The `model_kwargs` a saved model's Transformer module is loaded with ({} when none)."""
    config = folder / "sentence_bert_config.json"
    return json.loads(config.read_text(encoding="utf-8")).get("model_kwargs", {}) if config.exists() else {}


# What sentence-transformers and transformers need of a saved folder to rebuild the model as it was saved: without
# tokenizer_config.json a tokenizer may load with no [UNK] token, without config_sentence_transformers.json the
# prompts the model was trained with are silently dropped.
MODEL_FILES = ("modules.json", "config_sentence_transformers.json")
MODULE_FILES = {"Transformer": ("config.json", "tokenizer_config.json"), "Pooling": ("config.json",)}


def missing_model_files(folder: Path) -> list[str]:
    """The files a saved Sentence Transformers folder needs that are missing, as paths relative to it."""
    missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return missing or ["modules.json (unreadable)"]
    for module in modules if isinstance(modules, list) else []:
        if not isinstance(module, dict):
            continue
        kind, sub = str(module.get("type", "")).rsplit(".", 1)[-1], Path(str(module.get("path", "")))
        needed = MODULE_FILES.get(kind, ())
        missing += [(sub / name).as_posix() for name in needed if not (folder / sub / name).is_file()]
    return missing
