"""The training callbacks' pure logic: when to evaluate, the series from the log history, DVCLive logging."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from banglasim.evaluation.evaluators import TRAINER_COSINE_KEY, TRAINER_SCORE_KEY
from banglasim.training.callbacks import LiveMetrics, eval_steps, series_from_history

# ---------------------------------------------------------------- eval_steps


def test_eval_steps_half_epochs():
    assert eval_steps(563, 1, 2) == [282, 563]
    assert eval_steps(27, 1, 2) == [14, 27]


def test_eval_steps_two_epochs_and_three_evals():
    assert eval_steps(100, 2, 2) == [25, 50, 75, 100]
    assert eval_steps(30, 1, 3) == [10, 20, 30]
    assert eval_steps(20, 2, 3) == [4, 7, 10, 14, 17, 20]
    assert eval_steps(27, 1, 4) == [7, 14, 21, 27]


def test_eval_steps_more_evals_than_steps_never_repeats_a_step():
    assert eval_steps(2, 1, 4) == [1, 2]
    assert eval_steps(1, 1, 2) == [1]


@given(per_epoch=st.integers(1, 400), epochs=st.integers(1, 4), evals=st.integers(1, 6))
def test_eval_steps_properties(per_epoch, epochs, evals):
    max_steps = per_epoch * epochs
    steps = eval_steps(max_steps, epochs, evals)
    assert steps == sorted(set(steps))
    assert all(0 < s <= max_steps for s in steps)
    assert steps[-1] == max_steps
    for e in range(1, epochs + 1):  # every epoch ends with an evaluation
        assert e * per_epoch in steps
    assert len(steps) == epochs * min(evals, per_epoch)


# ---------------------------------------------------------------- series_from_history


def eval_entry(step: int, epoch: float, score: float, cosine: float) -> dict:
    return {
        TRAINER_SCORE_KEY: score,
        TRAINER_COSINE_KEY: cosine,
        "eval_val_pearson_cosine": score,
        "epoch": epoch,
        "step": step,
    }


HISTORY = [
    eval_entry(0, 0, 0.20, 0.98),
    {"loss": 2.02, "grad_norm": 0.2, "learning_rate": 5e-4, "epoch": 0.518518, "step": 14},
    eval_entry(14, 0.518518, 0.25, 0.97),
    {"loss": 1.98, "grad_norm": 0.2, "learning_rate": 4e-5, "epoch": 1.0, "step": 27},
    eval_entry(27, 1.0, 0.27, 0.96),
    {"train_runtime": 11.3, "train_loss": 2.0, "epoch": 1.0, "step": 27},
]


def test_series_from_history_rows():
    rows = series_from_history(HISTORY)
    assert [r["step"] for r in rows] == [0, 14, 27]
    assert "train_loss" not in rows[0]
    assert rows[1] == {"step": 14, "epoch": 0.5185, "eval_score": 0.25, "avg_cosine": 0.97, "train_loss": 2.02}
    assert rows[2]["train_loss"] == 1.98
    assert all(r["step"] > 0 for r in rows if "train_loss" in r)


def test_series_from_history_empty():
    assert series_from_history([]) == []
    assert series_from_history([{"loss": 1.0, "step": 3, "epoch": 0.1}]) == []


# ---------------------------------------------------------------- LiveMetrics


class FakeLive:
    def __init__(self) -> None:
        self.step = 0
        self.logged: list[tuple[int, str, float]] = []

    def log_metric(self, name, value, timestamp=False):
        self.logged.append((self.step, name, value))

    def next_step(self):
        pass


class FakeState:
    def __init__(self, log_history):
        self.log_history = log_history


MAIN = SimpleNamespace(process_index=0)


def test_live_metrics_replays_history_and_never_logs_a_step_twice():
    live = FakeLive()
    cb = LiveMetrics(live)
    cb.on_train_begin(MAIN, FakeState(HISTORY[:3]), None)  # resumed at step 14
    cb.on_evaluate(MAIN, FakeState(HISTORY[:3]), None)  # the same step again: ignored
    cb.on_evaluate(MAIN, FakeState(HISTORY[:5]), None)
    steps = [r["step"] for r in cb.series]
    assert steps == [0, 14, 27]
    per_metric = {}
    for step, name, _ in live.logged:
        per_metric.setdefault(name, []).append(step)
    assert per_metric["eval_score"] == [0, 14, 27]
    assert per_metric["avg_cosine"] == [0, 14, 27]
    assert per_metric["train_loss"] == [14, 27]


def test_live_metrics_logs_nothing_on_other_processes():
    live = FakeLive()
    cb = LiveMetrics(live)
    other = SimpleNamespace(process_index=1)
    cb.on_train_begin(other, FakeState(HISTORY[:3]), None)
    cb.on_evaluate(other, FakeState(HISTORY[:5]), None)
    assert live.logged == []
