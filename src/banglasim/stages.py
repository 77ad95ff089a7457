"""The pipeline's stages in one place: command name -> (module, what it does).

dvc.yaml runs each as `python -m banglasim <command>`; cli.py, the tests and the code-deps check read this list.
Each module has `run(params_path: str)` (ingest also takes a source name).
"""

from __future__ import annotations

STAGES: dict[str, tuple[str, str]] = {
    "check-params": ("banglasim.config.check_params", "validate the whole params file (the first stage)"),
    "base-model": ("banglasim.models.base_model", "materialise model.name into models/base/"),
    "ingest": ("banglasim.data.ingest", "read one source folder of data.sources (all when no NAME is given)"),
    "prepare": ("banglasim.data.prepare", "merge the ingested sources, write data/prepared/"),
    "split": ("banglasim.data.split", "train/validation/test split, write data/splits/"),
    "mine": ("banglasim.data.mine", "hard negatives for train.hard_negatives, write data/mined/"),
    "train": ("banglasim.training.train", "fine-tune models/base, write models/model/ and dvclive/"),
    "train-reranker": ("banglasim.training.reranker", "fine-tune a cross-encoder re-ranker, write models/reranker/"),
    "export-reranker": ("banglasim.export.export_reranker", "the re-ranker as ONNX, write models/reranker_export/"),
    "export": ("banglasim.export.export", "the tuned model as a compact ONNX graph, write models/export/"),
    "evaluate": ("banglasim.evaluation.evaluate", "base vs tuned metrics on test and validation, write metrics/"),
    "index": ("banglasim.search.index", "embed the prepared passages with models/export, write models/index/"),
}


def dvc_stage_name(command: str) -> str:
    """The dvc.yaml stage of a command: `base-model` -> `base_model`."""
    return command.replace("-", "_")
