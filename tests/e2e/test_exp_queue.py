"""Experiments on the reproduced repo: a queued grid of learning rates, `dvc exp show`, then one experiment
applied and committed and compared with the baseline in `dvc metrics diff` and `dvc plots diff`."""

from __future__ import annotations

import json
import math

import pytest

from repo_helpers import dvc, git

pytestmark = pytest.mark.e2e

RATES = ("2e-3", "5e-3")
SERIES = ("eval_score", "avg_cosine", "val_mrr_at_10", "train_loss")


def experiments_by_rate(repo) -> dict[float, dict]:
    """`dvc exp show --json`: each experiment with metrics, keyed by its train.learning_rate: {name, data}."""
    found = {}
    for rev in json.loads(dvc("exp", "show", "--json", cwd=repo).stdout):
        for exp in rev.get("experiments") or []:
            for r in exp.get("revs", []):
                data = r.get("data") or {}
                lr = (
                    (data.get("params") or {})
                    .get("params.yaml", {})
                    .get("data", {})
                    .get("train", {})
                    .get("learning_rate")
                )
                if lr is not None and data.get("metrics"):
                    found[float(lr)] = {"name": r.get("name"), "data": data}
    return found


def test_queued_grid_then_metrics_and_plots_diff(repo, tmp_path):
    """Two queued learning rates run in DVC's queue (`dvc exp run --run-all` starts the `dvc queue start` workers
    and waits on each task, printing its log); each reruns train and evaluate only, and `dvc exp show` lists both
    with their metrics. One applied and committed: `dvc metrics diff` and `dvc plots diff` against the baseline."""
    first = json.loads((repo / "dvclive/metrics.json").read_text())
    dvc("exp", "run", "--queue", "-S", f"train.learning_rate={','.join(RATES)}", cwd=repo)
    proc = dvc("exp", "run", "--run-all", cwd=repo)
    out = proc.stdout
    assert out.count("Running stage 'train'") == len(RATES) and out.count("Running stage 'evaluate'") == len(RATES)
    assert "Running stage 'prepare'" not in out and "Running stage 'split'" not in out
    assert "Failed" not in dvc("queue", "status", cwd=repo).stdout

    found = experiments_by_rate(repo)
    for rate in RATES:
        assert float(rate) in found, f"learning_rate={rate} missing from dvc exp show: {sorted(found)}"
        metrics = found[float(rate)]["data"]["metrics"]
        live = metrics["dvclive/metrics.json"]["data"]
        assert {"eval_score", "avg_cosine", "train_loss"} <= set(live) and math.isfinite(live["eval_score"])
        assert metrics["metrics/train.json"]["data"]["selected_step"] > 0
        assert "tuned" in metrics["metrics/evaluate.json"]["data"]["test"]

    chosen = found[5e-3]
    exp_metrics = chosen["data"]["metrics"]["dvclive/metrics.json"]["data"]
    dvc("exp", "apply", chosen["name"], cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "lr 5e-3", cwd=repo)
    assert json.loads((repo / "dvclive/metrics.json").read_text())["eval_score"] == exp_metrics["eval_score"]
    diff = dvc("metrics", "diff", "HEAD~1", "--all", cwd=repo).stdout
    assert "eval_score" in diff and "test.tuned.mrr_at_10" in diff
    diff_json = json.loads(dvc("metrics", "diff", "HEAD~1", "--all", "--json", cwd=repo).stdout)
    for name in ("eval_score", "train_loss"):
        change = diff_json["dvclive/metrics.json"][name]
        assert change["old"] == pytest.approx(first[name])
        assert change["new"] == pytest.approx(exp_metrics[name])
    assert diff_json["dvclive/metrics.json"]["train_loss"]["diff"] != 0
    assert "test.tuned.mrr_at_10" in diff_json["metrics/evaluate.json"]

    out_dir = tmp_path / "plots"
    dvc("plots", "diff", "HEAD~1", "-o", str(out_dir), cwd=repo)
    html = (out_dir / "index.html").read_text(encoding="utf-8")
    for name in SERIES:
        assert name in html
    # the step series, both runs in one chart each
    assert "vegaEmbed('#Training_loss_by_step__a_mean_of_every_few_optimizer_steps'" in html
    assert "vegaEmbed('#Learning_rate_by_step'" in html and "learning_rate" in html
