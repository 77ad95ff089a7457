"""What the train stage prints: progress a person can read, in a terminal and in a log file.

On a terminal, a tqdm bar over optimizer steps with elapsed time, ETA and the running loss; elsewhere
(CI, `dvc repro > log`), no carriage returns: one plain line every ~10% of the steps. At each
evaluation, one line with the step, epoch, validation metrics and the train loss since the last one.
The Trainer's own raw metric dicts are not printed (train.py removes its PrinterCallback).
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from banglasim.training.callbacks import series_from_history


def clock(seconds: float) -> str:
    """3725 -> '1h02m05s', 252 -> '4m12s', 9 -> '9s'."""
    s = int(round(seconds))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class LossMeter:
    """The losses of the optimizer steps since the last `take`, filled by the trainer's training_step."""

    def __init__(self) -> None:
        self.recent: list[float] = []

    def add(self, value: float) -> None:
        self.recent.append(value)

    def running(self, last: int = 20) -> float | None:
        window = self.recent[-last:]
        return sum(window) / len(window) if window else None


class ProgressReporter(TrainerCallback):
    """Progress bar (terminal) or plain lines (log), and one readable line per evaluation (main process only)."""

    def __init__(
        self, meter: LossMeter, stream: TextIO | None = None, tty: bool | None = None, lines: int = 10
    ) -> None:
        self.meter = meter
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = 1
        self.lines = lines
        self.bar: tqdm | None = None
        self.started = time.monotonic()
        self.first_step = 0

    def _print(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:
            return
        self.started, self.first_step = time.monotonic(), state.global_step
        self.every = max(1, math.ceil(state.max_steps / self.lines))
        if self.tty:
            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                desc="train",
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
            )
        else:
            self._print(
                f"train: {state.max_steps} optimizer steps, a progress line after the first and every {self.every}"
            )

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:
            return
        loss = self.meter.running()
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            if loss is not None:
                self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        elif state.global_step in (self.first_step + 1, state.max_steps) or state.global_step % self.every == 0:
            elapsed = time.monotonic() - self.started
            done = state.global_step - self.first_step
            eta = elapsed / done * (state.max_steps - state.global_step) if done else 0.0
            self._print(
                f"train: step {state.global_step}/{state.max_steps} "
                f"({100 * state.global_step / state.max_steps:.0f}%)"
                + (f"  loss {loss:.3f}" if loss is not None else "")
                + f"  [{clock(elapsed)} elapsed, ETA {clock(eta)}]"
            )

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if args.process_index != 0:
            return
        rows = series_from_history(state.log_history)
        if not rows:
            return
        row = rows[-1]
        parts = [
            f"step {row['step']}/{state.max_steps} (epoch {row['epoch']:.2f})",
            f"eval_score {row['eval_score']:.4f}",
            f"avg_cosine {row['avg_cosine']:.3f}",
        ]
        if "val_mrr_at_10" in row:
            parts.append(f"val_mrr@10 {row['val_mrr_at_10']:.4f}")
        if "train_loss" in row:
            parts.append(f"train_loss {row['train_loss']:.3f}")
        self._print("  ".join(parts) + f"  [{clock(time.monotonic() - self.started)}]")

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
