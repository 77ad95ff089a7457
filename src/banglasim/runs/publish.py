"""Publishing a run's outputs as one unit: the model, the DVCLive files, the train metrics and the run record.

Everything is first written into the run's staging folder (`.checkpoints/<run key>/publish/`); a
READY file listing the moves then marks the point of no return, and each staged output is renamed
into place. A publish cut short (killed, disk full) is rolled forward by the next train stage before
it does anything else, so the outputs are all of one run: all new or, before READY, all old.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from sentence_transformers import SentenceTransformer

from banglasim.config.params import Params
from banglasim.config.paths import (
    BASE_MODEL_DIR,
    CHECKPOINT_ROOT,
    LIVE_METRICS_FILE,
    LIVE_PARAMS_FILE,
    LIVE_PLOTS_DIR,
    MODEL_DIR,
    RUN_RECORD_FILE,
    TRAIN_METRICS,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError, saving
from banglasim.models.folder import set_transformer_kwargs, transformer_kwargs
from banglasim.models.loading import retrieval_prompts
from banglasim.models.registry import hub_id
from banglasim.runs.checkpoints import FINISHED_MARKER, load_trainable
from banglasim.runs.faults import kill_point
from banglasim.runs.model_card import append_project_section

STAGING = "publish"
READY = "READY"


def staging_dir(run_dir: Path) -> Path:
    return run_dir / STAGING


def staged_outputs(run_dir: Path) -> list[tuple[Path, Path]]:
    """(staged path, published path) of every output the train stage publishes."""
    stage = staging_dir(run_dir)
    return [
        (stage / "model", MODEL_DIR),
        (stage / "dvclive" / "plots", LIVE_PLOTS_DIR),
        (stage / "dvclive" / "metrics.json", LIVE_METRICS_FILE),
        (stage / "dvclive" / "params.yaml", LIVE_PARAMS_FILE),
        (stage / "train.json", TRAIN_METRICS),
        (stage / "run_record.json", RUN_RECORD_FILE),
    ]


def stage_model(
    model: SentenceTransformer, run_dir: Path, step: int, final_step: int, params: Params, row: dict
) -> None:
    """Save the chosen step's model, with its model card and selection.json, into the staging folder."""
    if step != final_step:
        load_trainable(model, run_dir / f"checkpoint-{step}")
    model.model_card_data.language = ["bn"]
    model.model_card_data.base_model = hub_id(params.model.name)
    model.prompts = retrieval_prompts(model.prompts or {})  # encode_document: the passage prompt it was tuned with
    out = staging_dir(run_dir) / "model"
    shutil.rmtree(out, ignore_errors=True)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    try:
        with saving(out, "the trained model", weights):
            model.save(str(out))
            if kwargs := transformer_kwargs(BASE_MODEL_DIR):  # the base folder's loading kwargs, which save drops
                set_transformer_kwargs(out, kwargs)
            (out / "selection.json").write_text(
                json.dumps({"run": run_dir.name, "step": step, "select": params.train.select}) + "\n"
            )
            append_project_section(out / "README.md", params, step, row)
    except UserError:
        shutil.rmtree(out, ignore_errors=True)  # staged only: the published outputs are untouched; free its space
        raise


def _move_into_place(staged: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if staged.is_dir():
        atomic.fix_permissions(staged)
        atomic.replace_dir(staged, target)
    else:
        atomic.fix_permissions(staged)
        os.replace(staged, target)


def _finish(run_dir: Path) -> None:
    """Move every output still staged into place, then mark the run finished and drop the staging folder."""
    for staged, target in staged_outputs(run_dir):
        if staged.exists():
            _move_into_place(staged, target)
            kill_point("publish")
    (run_dir / FINISHED_MARKER).write_text("published\n")
    shutil.rmtree(staging_dir(run_dir), ignore_errors=True)


def commit(run_dir: Path) -> None:
    """Publish the staged outputs of a run: READY first (all staged and synced), then the renames."""
    missing = [str(s) for s, _ in staged_outputs(run_dir) if not s.exists()]
    if missing:
        raise FileNotFoundError(f"staged outputs missing: {', '.join(missing)}")
    atomic.sync_tree(staging_dir(run_dir))  # every staged byte on disk before the point of no return
    ready = staging_dir(run_dir) / READY  # its content is for a reader; roll_forward needs only its presence
    atomic.write_text(ready, json.dumps([[str(s), str(t)] for s, t in staged_outputs(run_dir)]) + "\n")
    _finish(run_dir)


def roll_forward() -> list[Path]:
    """Complete every publish that reached READY but was cut short; returns the run folders completed."""
    done = []
    if CHECKPOINT_ROOT.is_dir():
        for run_dir in sorted(CHECKPOINT_ROOT.iterdir()):
            if (staging_dir(run_dir) / READY).exists():
                _finish(run_dir)
                done.append(run_dir)
    return done
