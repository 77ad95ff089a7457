"""The re-ranker's DVCLive series: the mean training loss since the previous point and validation MRR@10,
logged after every epoch (x axis: optimizer step)."""

from __future__ import annotations

import time
from collections.abc import Callable

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class RerankerLive(TrainerCallback):
    """Collects each logged loss; at each epoch's end validates and logs both series to `live`."""

    def __init__(self, live, validate: Callable[[], float]) -> None:
        self.live = live
        self.validate = validate
        self.losses: list[float] = []
        self.last_mrr: float | None = None
        self.validation_seconds = 0.0

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        started = time.perf_counter()
        self.last_mrr = float(self.validate())
        self.validation_seconds += time.perf_counter() - started
        self.live.step = state.global_step
        if self.losses:
            self.live.log_metric("train_loss", sum(self.losses) / len(self.losses))
        self.live.log_metric("val_mrr_at_10", self.last_mrr)
        self.live.next_step()
        self.losses = []
