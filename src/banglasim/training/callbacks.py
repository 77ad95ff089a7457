"""Trainer callbacks: when to evaluate and what DVCLive records."""

from __future__ import annotations

import math

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_MRR_KEY, TRAINER_SCORE_KEY


def eval_steps(max_steps: int, epochs: int, evals_per_epoch: int) -> list[int]:
    """Optimizer steps at which to evaluate: every 1/evals_per_epoch of each epoch, the last step included."""
    per_epoch = max_steps // epochs
    steps = {e * per_epoch + math.ceil(k * per_epoch / evals_per_epoch)
             for e in range(epochs) for k in range(1, evals_per_epoch + 1)}
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
            row = {"step": entry["step"], "epoch": round(float(entry.get("epoch") or 0.0), 4),
                   "eval_score": entry[TRAINER_SCORE_KEY], "avg_cosine": entry[TRAINER_COSINE_KEY]}
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
