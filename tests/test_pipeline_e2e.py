"""The whole DVC pipeline in a throw-away git repo copy, with the tiny model: repro, caching, experiments, diffs.

The tests of this module share one reproduced repo and run in file order: the read-only checks first,
then the ones that edit params.yaml (restored), then the experiment, which commits.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import banglasim, dvc, git, make_repo_copy, read_tsv

pytestmark = pytest.mark.e2e

STAGES = ("prepare", "split", "train", "evaluate")
SERIES = ("eval_score", "avg_cosine", "train_loss")
LIVE = Path("dvclive/plots/metrics")


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model_dir) -> Path:
    path = make_repo_copy(tmp_path_factory.mktemp("e2e") / "repo", tiny_model_dir)
    proc = dvc("repro", cwd=path)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in proc.stdout
    return path


def total_steps(repo: Path) -> int:
    return json.loads((repo / "metrics/train.json").read_text())["total_steps"]


def series(repo: Path, name: str) -> dict[int, float]:
    rows = read_tsv(repo / LIVE / f"{name}.tsv")
    steps = [int(r["step"]) for r in rows]
    assert len(steps) == len(set(steps)), f"{name}: a step logged twice: {steps}"
    for r in rows:
        assert r[name] not in ("", None, "null", "nan"), f"{name}: empty value at step {r['step']}"
        assert math.isfinite(float(r[name]))
    return {int(r["step"]): float(r[name]) for r in rows}


def test_lock_lists_every_stage_with_hashed_outs(repo):
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(STAGES) <= set(lock["stages"])
    for stage in STAGES:
        outs = lock["stages"][stage]["outs"]
        assert outs, stage
        for out in outs:
            assert re.fullmatch(r"[0-9a-f]{32}(\.dir)?", out.get("md5", "")), (stage, out)
    train_outs = {o["path"] for o in lock["stages"]["train"]["outs"]}
    assert {"models/model", "dvclive/plots", "dvclive/metrics.json", "metrics/train.json"} <= train_outs


def test_published_model_loads_and_encodes(repo):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    emb = model.encode(["পদ্মা নদী কোথায়?", "ঢাকা বাংলাদেশের রাজধানী"])
    assert emb.shape == (2, 32)
    selection = json.loads((repo / "models/model/selection.json").read_text())
    assert selection == {"step": total_steps(repo), "select": "last"}


def test_dvclive_series_have_one_row_per_evaluation_step(repo):
    n = total_steps(repo)
    half = math.ceil(n / 2)
    assert n > 2
    assert sorted(series(repo, "eval_score")) == [0, half, n]
    assert sorted(series(repo, "avg_cosine")) == [0, half, n]
    assert sorted(series(repo, "train_loss")) == [half, n]
    assert json.loads((repo / "metrics/train.json").read_text())["eval_steps"] == [0, half, n]
    live = json.loads((repo / "dvclive/metrics.json").read_text())
    assert live["step"] == n
    assert live["eval_score"] == pytest.approx(series(repo, "eval_score")[n])


def test_training_report_matches_the_dvclive_series(repo):
    report = (repo / "reports/training_report.md").read_text(encoding="utf-8")
    assert (repo / "reports/training_curves.png").stat().st_size > 0
    header = "| timestamp (UTC) | epoch | step | train loss | eval score | average cosine |"
    assert header in report
    table = report.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]  # skip |---|
    rows = {}
    for line in table:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[int(cells[2])] = cells
    data = {name: series(repo, name) for name in SERIES}
    assert sorted(rows) == sorted(data["eval_score"])
    for step, cells in rows.items():
        assert cells[0], f"step {step}: no timestamp"
        assert cells[3] == (f"{data['train_loss'][step]:.4f}" if step in data["train_loss"] else "")
        assert cells[4] == f"{data['eval_score'][step]:.4f}"
        assert cells[5] == f"{data['avg_cosine'][step]:.4f}"


def test_run_record_has_no_blank_fields(repo):
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["versions"], "no versions recorded"
    for pkg, version in record["versions"].items():
        assert isinstance(version, str) and version.strip() not in ("", "unknown", "None"), pkg
    for key in ("device", "precision", "wall_seconds", "train_pairs"):
        assert record.get(key) not in (None, ""), key
    assert record["resumed_from"] is None


def test_second_repro_runs_nothing(repo):
    proc = dvc("repro", cwd=repo)
    out = proc.stdout
    assert "Running stage" not in out
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in out
    assert "Data and pipelines are up to date." in out
    status = dvc("status", "--json", cwd=repo)
    assert json.loads(status.stdout or "{}") == {}


def changed_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout or "{}"))


def dry_run_stages(repo: Path) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", dvc("repro", "--dry", cwd=repo).stdout))


def edit_params(repo: Path, section: str, key: str, value) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    params[section][key] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")


def test_bootstrap_samples_change_reruns_only_evaluate(repo):
    edit_params(repo, "evaluate", "bootstrap_samples", 60)
    try:
        assert changed_stages(repo) == {"evaluate"}
        assert dry_run_stages(repo) == {"evaluate"}
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    assert changed_stages(repo) == set()


def test_learning_rate_change_does_not_rerun_prepare_or_split(repo):
    edit_params(repo, "train", "learning_rate", 2e-3)
    try:
        assert changed_stages(repo) == {"train"}
        would_run = dry_run_stages(repo)
        assert "train" in would_run
        assert not would_run & {"prepare", "split"}
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    assert changed_stages(repo) == set()


def find_named(obj, name: str):
    """The first rev entry (a dict with 'name' == name and its 'data') anywhere in dvc exp show's JSON."""
    if isinstance(obj, dict):
        if obj.get("name") == name and isinstance(obj.get("data"), dict):
            return obj
        children = obj.values()
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for child in children:
        found = find_named(child, name)
        if found is not None:
            return found
    return None


def test_experiment_then_metrics_and_plots_diff(repo, tmp_path):
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "first run", cwd=repo)
    first = json.loads((repo / "dvclive/metrics.json").read_text())

    proc = dvc("exp", "run", "-S", "train.learning_rate=5e-3", cwd=repo)
    assert "Running stage 'train'" in proc.stdout and "Running stage 'evaluate'" in proc.stdout
    assert "Running stage 'prepare'" not in proc.stdout and "Running stage 'split'" not in proc.stdout
    name = re.search(r"Ran experiment\(s\): (\S+)", proc.stdout).group(1)

    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    exp = find_named(shown, name)
    assert exp is not None, f"experiment {name} not in dvc exp show"
    data = exp["data"]
    assert data["params"]["params.yaml"]["data"]["train"]["learning_rate"] == pytest.approx(5e-3)
    exp_metrics = data["metrics"]["dvclive/metrics.json"]["data"]
    assert math.isfinite(exp_metrics["eval_score"])
    assert "tuned" in data["metrics"]["metrics/evaluate.json"]["data"]

    # The experiment's results are in the workspace: commit them and compare with the first run.
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "lr 5e-3", cwd=repo)
    assert json.loads((repo / "dvclive/metrics.json").read_text())["eval_score"] == exp_metrics["eval_score"]
    diff = dvc("metrics", "diff", "HEAD~1", cwd=repo).stdout
    assert "eval_score" in diff
    diff_json = json.loads(dvc("metrics", "diff", "HEAD~1", "--json", cwd=repo).stdout)
    change = diff_json["dvclive/metrics.json"]["eval_score"]
    assert change["old"] == pytest.approx(first["eval_score"])
    assert change["new"] == pytest.approx(exp_metrics["eval_score"])
    assert change["diff"] != 0

    out_dir = tmp_path / "plots"
    dvc("plots", "diff", "HEAD~1", "-o", str(out_dir), cwd=repo)
    html = (out_dir / "index.html").read_text(encoding="utf-8")
    for name in SERIES:
        assert name in html


def test_training_is_deterministic(tmp_path, tiny_model_dir):
    repo = make_repo_copy(tmp_path / "repo", tiny_model_dir)
    edit_params(repo, "prepare", "num_samples", 120)  # ~14 steps: enough to cover the checkpoints and evals
    banglasim("prepare", cwd=repo)
    banglasim("split", cwd=repo)
    outputs = []
    for _ in range(2):
        shutil.rmtree(repo / ".checkpoints", ignore_errors=True)
        banglasim("train", cwd=repo)
        outputs.append(((repo / "dvclive/metrics.json").read_bytes(),
                        (repo / "models/model/model.safetensors").read_bytes()))
    assert outputs[0][0] == outputs[1][0], "dvclive/metrics.json differs between identical runs"
    assert outputs[0][1] == outputs[1][1], "model.safetensors differs between identical runs"
