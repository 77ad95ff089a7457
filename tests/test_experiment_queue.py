"""A queued grid of three learning rates runs with `dvc queue start`; `dvc exp show` lists each with its metrics."""

from __future__ import annotations

import json
import time

import pytest
from conftest import dvc, git

pytestmark = pytest.mark.e2e
RATES = ("1e-3", "2e-3", "5e-3")


def test_queued_grid_of_learning_rates(repo_copy):
    repo = repo_copy
    dvc("repro", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "baseline run", cwd=repo)

    dvc("exp", "run", "--queue", "-S", f"train.learning_rate={','.join(RATES)}", cwd=repo)
    dvc("queue", "start", cwd=repo)
    deadline = time.time() + 600
    while time.time() < deadline:
        status = dvc("queue", "status", cwd=repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    dvc("queue", "stop", "--kill", cwd=repo, check=False)
    assert "Failed" not in status, status

    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    found = {}
    for rev in shown:
        for exp in rev.get("experiments") or []:
            for r in exp.get("revs", []):
                data = r.get("data") or {}
                lr = (data.get("params") or {}).get("params.yaml", {}).get("data", {}).get("train", {}).get("learning_rate")
                if lr is not None and data.get("metrics"):
                    found[float(lr)] = data["metrics"]
    for rate in RATES:
        metrics = found.get(float(rate))
        assert metrics is not None, f"learning_rate={rate} missing from dvc exp show: {sorted(found)}"
        live = metrics["dvclive/metrics.json"]["data"]
        assert {"eval_score", "avg_cosine", "train_loss"} <= set(live)
        assert metrics["metrics/train.json"]["data"]["selected_step"] > 0
