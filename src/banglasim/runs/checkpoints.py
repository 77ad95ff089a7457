"""Checkpoints of a training run: its key, which checkpoints are complete, resuming, the run lock, cleanup.

A run lives in `.checkpoints/<run key>/`, the key hashing the params, the base model and data it trains
on, the precision, and the code the train stage runs (the same files dvc.yaml lists as its code deps).
A checkpoint holds only the trainable parameters (`trainable.safetensors`): the frozen ones are the base
model's, so saving them at every evaluation would only cost disk. Only one trainer at a time may use
`.checkpoints/`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from banglasim.config.params import Params
from banglasim.config.paths import CHECKPOINT_ROOT
from banglasim.core.errors import UserError, saving
from banglasim.models.folder import folder_digest
from banglasim.runs.code_deps import code_digest, code_folders
from banglasim.runs.faults import kill_point

COMPLETE_MARKER = "COMPLETE"
FINISHED_MARKER = "FINISHED"
TRAINABLE_WEIGHTS = "trainable.safetensors"
WALL_FILE = "wall_seconds"  # training seconds up to this checkpoint, over every part of a resumed run
LOCK_FILE = CHECKPOINT_ROOT / "train.lock"
TRAIN_MODULE = "banglasim.training.train"  # its code is part of a run's identity


def run_key(params: Params, inputs: list[Path], precision: str, extra: dict | None = None) -> str:
    """Identity of a run: its params (and `extra` settings, e.g. the validation windows), input files and folders
    (the base model's files included), the train stage's code, the precision it resolves to here, and the
    number of processes."""
    h = hashlib.sha256(json.dumps([params.as_dict(), precision, *([extra] if extra else [])], sort_keys=True).encode())
    for path in inputs:
        h.update(folder_digest(path).encode() if path.is_dir() else path.read_bytes())
    h.update(code_digest(code_folders(TRAIN_MODULE)).encode())
    h.update(os.environ.get("WORLD_SIZE", str(params.train.processes)).encode())
    return h.hexdigest()[:16]


def completed_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run folder that were fully written, oldest first."""
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.glob("checkpoint-*") if (p / COMPLETE_MARKER).exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def resume_point(run_dir: Path, remove_finished: bool) -> str | None:
    """The last complete checkpoint of an unfinished run. A finished run is never resumed: a rerun trains
    afresh, and the main process (`remove_finished`, the only one that deletes) removes the old run first."""
    if (run_dir / FINISHED_MARKER).exists():
        if not remove_finished:
            return None
        shutil.rmtree(run_dir)
    found = completed_checkpoints(run_dir)
    return str(found[-1]) if found else None


def remove_other_runs(keep: Path) -> None:
    """Delete the run folders of other runs. Main process only: the one process that deletes run folders."""
    for other in CHECKPOINT_ROOT.iterdir():
        if other.is_dir() and other != keep:
            shutil.rmtree(other, ignore_errors=True)


@contextmanager
def train_lock() -> Iterator[None]:
    """Hold `.checkpoints/train.lock` while training: a second trainer stops with a message naming the holder.

    The lock is an flock, so the kernel releases it when its holder dies (a stale lock file of a killed
    trainer is taken over and rewritten); the file records the holder's PID for the message.
    """
    CHECKPOINT_ROOT.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserError(
                f"{LOCK_FILE}: another training run (PID {holder}) is using {CHECKPOINT_ROOT}/",
                fix=f"wait for it to finish, or stop it (kill {holder}) and rerun",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the flock


SELECT_METRIC = "val_mrr_at_10"  # what `train.select: best` maximises: retrieval quality on validation


def select_step(history: list[dict], how: str) -> int:
    """Step to publish: the last, or the one with the highest validation MRR@10 (ties: the earlier step;
    step 0, the base model, excluded)."""
    trained = [row for row in history if row["step"] > 0]
    if not trained:
        raise UserError("training logged no evaluation after step 0", fix="check train.epochs and the data size")
    if how == "last":
        return trained[-1]["step"]
    bad = [row["step"] for row in trained if not math.isfinite(row.get(SELECT_METRIC, math.nan))]
    if bad:
        raise UserError(
            f"validation {SELECT_METRIC} is missing or NaN at step(s) {bad}: no step can be chosen on it",
            fix="use train.select: last, or fix what made the metric undefined",
        )
    return max(trained, key=lambda row: (row[SELECT_METRIC], -row["step"]))["step"]


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes, by their state-dict names."""
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: torch.nn.Module, checkpoint: Path) -> None:
    """Put a checkpoint's trainable parameters into `model` (its frozen ones are the base model's already)."""
    state = load_file(str(Path(checkpoint) / TRAINABLE_WEIGHTS))
    missing = set(trainable_state(model)) - set(state)
    if missing:
        raise UserError(
            f"{checkpoint}: the checkpoint lacks {len(missing)} trainable tensor(s)",
            fix=f"delete {checkpoint.parent} and rerun the train stage",
        )
    model.load_state_dict(state, strict=False)


class CheckpointingTrainer(SentenceTransformerTrainer):
    """The Sentence Transformers Trainer, with checkpoints that hold only the trainable parameters, and each
    step's loss handed to `loss_meter` (for the progress line)."""

    loss_meter = None

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.loss_meter is not None:
            self.loss_meter.add(float(loss))
        kill_point("train-step")
        return loss

    def _save_checkpoint(self, model, trial) -> None:
        """The Trainer's checkpoint; a full disk (torch, safetensors or the OS saying so) is one clear error, and
        the half-written checkpoint folder is removed (it has no COMPLETE marker, so it is never resumed from)."""
        folder = Path(self._get_output_dir(trial=trial)) / f"checkpoint-{self.state.global_step}"
        trainable = sum(p.numel() * p.element_size() for p in self.model.parameters() if p.requires_grad)
        try:  # about 3x the trainable weights: the weights and AdamW's two moments
            with saving(folder, f"the checkpoint of step {self.state.global_step}", 3 * trainable):
                super()._save_checkpoint(model, trial)
        except UserError:
            if self.args.process_index == 0:
                shutil.rmtree(folder, ignore_errors=True)
            raise

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        out = Path(output_dir or self.args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        save_file(trainable_state(self.model), str(out / TRAINABLE_WEIGHTS))
        kill_point("checkpoint")

    def _load_from_checkpoint(self, checkpoint_path: str, model: SentenceTransformer | None = None) -> None:
        load_trainable(self.model, Path(checkpoint_path))


def wall_seconds_before(checkpoint: str | Path | None) -> float:
    """Training seconds a run had spent up to `checkpoint` (over all its parts), from the checkpoint's WALL_FILE;
    0.0 for none (or a checkpoint written before the file was)."""
    try:
        return float((Path(checkpoint) / WALL_FILE).read_text()) if checkpoint else 0.0
    except (OSError, ValueError):
        return 0.0


class CheckpointMarker(TrainerCallback):
    """Mark a checkpoint complete once the Trainer has written all of it (resume only trusts marked ones); record
    the training seconds so far (this part's plus `wall_before`, those of the parts before a resume)."""

    def __init__(self, wall_before: float = 0.0) -> None:
        self.wall_before = wall_before
        self.started = time.perf_counter()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        self.started = time.perf_counter()

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index == 0:
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                seconds = self.wall_before + time.perf_counter() - self.started
                (ckpt / WALL_FILE).write_text(f"{seconds:.3f}\n")
                (ckpt / COMPLETE_MARKER).write_text(f"{state.global_step}\n")
