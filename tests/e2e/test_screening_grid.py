"""benchmarks/screening_grid.sh: what it queues (dry run), the train metrics its table reads, and one tiny run."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from banglasim.training.train import train_metrics

from repo_helpers import REPO_ROOT, dvc, run_cmd

SCRIPT = REPO_ROOT / "benchmarks/screening_grid.sh"


def dry(*args: str, **env: str) -> list[str]:
    out = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env={"PATH": "/usr/bin:/bin", "DRY": "1", **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.rstrip() for line in out.splitlines()]


def test_the_screen_queues_one_knob_at_a_time_up_to_the_train_stage():
    lines = dry("screen")
    runs = [line.split() for line in lines if line.startswith("dvc exp run --queue")]
    assert len(runs) == 9
    names = [r[r.index("-n") + 1] for r in runs]
    assert len(set(names)) == 9 and names[0] == "g21-default"
    base = {
        "prepare.num_samples=2000",
        *(f"data.sources.{d}=../shared/datasets/bangla-factoid-qa/{d}/BanQA/data" for d in ("D2", "D3", "D4")),
    }
    knobs = {}
    for name, r in zip(names, runs):
        assert r[-1] == "train", "the pipeline up to train only: evaluate (the test split) never runs"
        sets = {r[i + 1] for i, a in enumerate(r) if a == "-S"}
        assert base <= sets
        knobs[name] = {s.split("=")[0] for s in sets - base}
    assert knobs["g21-default"] == set()
    assert all(len(k) == 1 for n, k in knobs.items() if n != "g21-default" and not n.startswith("g21-cached"))
    assert knobs["g21-cached-b64"] == knobs["g21-cached-b128"] == {"train.loss", "train.batch_size"}
    assert any(line.startswith("dvc queue start") for line in lines)
    assert lines[-1].startswith("dvc exp show --md") and "val_mrr_at_10_selected" in lines[-1]


def test_lr_and_full_phases_carry_the_winning_setting():
    lr = [line for line in dry("lr", "-S", "model.trainable_layers=4") if line.startswith("dvc exp run")]
    assert len(lr) == 2 and all("model.trainable_layers=4" in line and line.endswith(" train") for line in lr)
    full = [line for line in dry("full", "winner", "-S", "model.trainable_layers=4") if line.startswith("dvc exp run")]
    assert len(full) == 1 and "g21-full-winner" in full[0] and "num_samples" not in full[0]
    assert not full[0].endswith(" train"), "the full-data runs run evaluate: their test figures"


def test_train_metrics_name_the_base_and_published_validation_mrr_and_the_time():
    history = [
        {"step": 0, "val_mrr_at_10": 0.70},
        {"step": 5, "val_mrr_at_10": 0.80},
        {"step": 9, "val_mrr_at_10": 0.75},
    ]
    m = train_metrics("abc", 5, "best", 9, history, {"wall_seconds": 12.5, "seconds_per_step": 1.4})
    assert m == {
        "run": "abc",
        "selected_step": 5,
        "select": "best",
        "total_steps": 9,
        "eval_steps": [0, 5, 9],
        "val_mrr_at_10_base": 0.70,
        "val_mrr_at_10_selected": 0.80,
        "wall_seconds": 12.5,
        "seconds_per_step": 1.4,
    }


@pytest.mark.e2e
def test_one_grid_run_on_the_tiny_model_queues_runs_and_shows(repo_copy):
    """The script's own commands on a repo copy (the sample as the data, the tiny model): one run, then the table."""
    env = {"R": "data/raw/sample", "SAMPLES": "240", "ONLY": "default$", "GRID": "t", "POLL": "3"}
    try:
        proc = run_cmd(["bash", "benchmarks/screening_grid.sh", "screen"], cwd=repo_copy, env=env, timeout=1200)
    finally:
        dvc("queue", "stop", "--kill", cwd=repo_copy, check=False)
    assert "Failed" not in dvc("queue", "status", cwd=repo_copy).stdout
    assert re.search(r"^\| Experiment .*val_mrr_at_10_selected", proc.stdout, re.M), proc.stdout
    row = next(line for line in proc.stdout.splitlines() if line.startswith("|") and "t-default" in line)
    assert re.search(r"\|\s+0\.\d+\s+\|", row), row
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo_copy).stdout)
    exps = [
        r["data"]
        for rev in shown
        for e in rev.get("experiments") or []
        for r in e.get("revs", [])
        if r.get("name") == "t-default"
    ]
    assert exps, "the run is in dvc exp show"
    metrics = exps[0]["metrics"]
    assert metrics["metrics/train.json"]["data"]["val_mrr_at_10_selected"] > 0
    # evaluate did not run (the screen never reads the test split): its metrics are the baseline commit's, if any
    committed = repo_copy / "metrics/evaluate.json"
    evaluated = metrics.get("metrics/evaluate.json", {}).get("data")
    assert evaluated is None or evaluated == json.loads(committed.read_text())
