"""Trainer callbacks: when to evaluate and what DVCLive records.

DVCLive series (dvclive/plots/metrics/): per evaluation step (LiveMetrics) eval_score, avg_cosine,
val_mrr_at_10, train_loss (the mean since the last evaluation) and epoch; per few optimizer steps
(StepCurves) steps/train_loss (the mean of those steps) and steps/learning_rate, in their own folder
and out of dvclive/metrics.json, so `dvc exp show` lists only the evaluation metrics.
"""

from __future__ import annotations

import math
from typing import Protocol

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from banglasim.config.paths import LIVE_STEP_SERIES_DIR
from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_MRR_KEY, TRAINER_SCORE_KEY


def eval_steps(max_steps: int, epochs: int, evals_per_epoch: int) -> list[int]:
    """Optimizer steps at which to evaluate: every 1/evals_per_epoch of each epoch, the last step included."""
    per_epoch = max_steps // epochs
    steps = {
        e * per_epoch + math.ceil(k * per_epoch / evals_per_epoch)
        for e in range(epochs)
        for k in range(1, evals_per_epoch + 1)
    }
    return sorted(s for s in steps if 0 < s <= max_steps)


class EvalSchedule(TrainerCallback):
    """Log, evaluate and checkpoint together at the half-epoch (or 1/n-epoch) steps, once each."""

    def __init__(self, evals_per_epoch: int, save: bool = True) -> None:
        self.evals_per_epoch = evals_per_epoch
        self.save = save
        self.steps: set[int] = set()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        self.steps = set(eval_steps(state.max_steps, max(1, math.ceil(args.num_train_epochs)), self.evals_per_epoch))

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if state.global_step in self.steps:
            control.should_log = control.should_evaluate = True
            control.should_save = self.save
        return control


def series_from_history(log_history: list[dict]) -> list[dict]:
    """One row per evaluation step: step, epoch, eval_score, avg_cosine, val_mrr_at_10 and train_loss (the mean
    since the last evaluation)."""
    losses = {e["step"]: e["loss"] for e in log_history if "loss" in e}
    rows = []
    for entry in log_history:
        if TRAINER_SCORE_KEY in entry:
            row = {
                "step": entry["step"],
                "epoch": round(float(entry.get("epoch") or 0.0), 4),
                "eval_score": entry[TRAINER_SCORE_KEY],
                "avg_cosine": entry[TRAINER_COSINE_KEY],
            }
            if TRAINER_MRR_KEY in entry:
                row["val_mrr_at_10"] = entry[TRAINER_MRR_KEY]
            if entry["step"] in losses:
                row["train_loss"] = losses[entry["step"]]
            rows.append(row)
    return rows


class LiveMetrics(TrainerCallback):
    """Write each evaluation step's metrics to DVCLive (main process only); replays them on resume."""

    def __init__(self, live) -> None:  # live: dvclive.Live or None on non-main processes
        self.live = live
        self.series: list[dict] = []

    def _log(self, row: dict) -> None:
        if self.live is None:
            return
        self.live.step = row["step"]
        for name in ("eval_score", "avg_cosine", "val_mrr_at_10", "train_loss", "epoch"):
            if name in row:
                self.live.log_metric(name, row[name], timestamp=True)
        self.live.next_step()

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:
            return
        self.series = series_from_history(state.log_history)
        for row in self.series:  # a resumed run writes a fresh staging DVCLive folder: replay the steps before
            self._log(row)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:  # (state.is_world_process_zero is not reliable in transformers 5.24)
            return  # only the main process keeps the log history and writes DVCLive files
        row = series_from_history(state.log_history)[-1]
        if self.series and self.series[-1]["step"] == row["step"]:
            return  # never log one step twice
        self.series.append(row)
        self._log(row)


class _Losses(Protocol):  # progress.LossMeter: each optimizer step's loss on this process, in order
    recent: list[float]


CURVE_PREFIX = f"{LIVE_STEP_SERIES_DIR.name}/"  # DVCLive names -> dvclive/plots/metrics/steps/<name>.tsv
CURVE_LOSS, CURVE_LR = "curve_train_loss", "curve_learning_rate"  # their keys in the Trainer's log history
CURVE_POINTS = 50  # about this many points per run


def curve_every(max_steps: int, points: int = CURVE_POINTS) -> int:
    """Optimizer steps per curve point: max(1, max_steps // points)."""
    return max(1, max_steps // points)


def curve_rows(log_history: list[dict]) -> list[dict]:
    """The curve points of a log history: {step, train_loss, learning_rate}, in step order."""
    return [
        {"step": e["step"], "train_loss": e[CURVE_LOSS], "learning_rate": e[CURVE_LR]}
        for e in log_history
        if CURVE_LOSS in e
    ]


class StepCurves(TrainerCallback):
    """Every `curve_every(max_steps)` optimizer steps (and at the last one): the mean training loss of those
    steps and the learning rate the last of them used, as DVCLive step series (main process only).

    The points also go into the Trainer's log history, which checkpoints keep, so a resumed run replays
    the points before its crash into its fresh DVCLive folder. The loss is this process's (under DDP, the
    main process's share of the batch; the per-evaluation train_loss is the mean over all processes).
    """

    def __init__(self, meter: _Losses, live=None, points: int = CURVE_POINTS) -> None:
        self.meter, self.live, self.points = meter, live, points  # live: dvclive.Live, None on other processes
        self.every = 1
        self.seen = 0  # meter.recent[:seen] are in earlier points
        self.last_lr: float | None = None

    def _log(self, row: dict) -> None:
        if self.live is None:
            return
        step = self.live.step
        self.live.step = row["step"]
        for name in ("train_loss", "learning_rate"):
            self.live.log_metric(CURVE_PREFIX + name, row[name])
        self.live.step = step  # LiveMetrics owns the step that dvclive/metrics.json reports
        self.live.summary.pop(CURVE_PREFIX.rstrip("/"), None)  # step series only: not in dvclive/metrics.json

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        self.every = curve_every(state.max_steps, self.points)
        self.seen = len(self.meter.recent)
        if args.process_index == 0:
            for row in curve_rows(state.log_history):  # a resumed run: the points before the crash
                self._log(row)

    def on_optimizer_step(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        optimizer = kw.get("optimizer")
        if optimizer is not None:  # before the scheduler steps: the rate this step used
            self.last_lr = float(optimizer.param_groups[0]["lr"])

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:
            return
        step = state.global_step
        if step % self.every and step != state.max_steps:
            return
        losses = self.meter.recent[self.seen :]
        if not losses or self.last_lr is None:
            return
        self.seen = len(self.meter.recent)
        row = {"step": step, "train_loss": sum(losses) / len(losses), "learning_rate": self.last_lr}
        state.log_history.append({"step": step, CURVE_LOSS: row["train_loss"], CURVE_LR: row["learning_rate"]})
        self._log(row)
