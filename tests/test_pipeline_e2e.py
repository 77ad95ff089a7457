"""The whole DVC pipeline in a throw-away git repo copy, with the tiny model: repro, caching, experiments, diffs.

The tests of this module share one reproduced repo and run in file order: the read-only checks first,
then the ones that edit params.yaml (restored), then the experiment, which commits.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, banglasim, dvc, git, make_repo_copy, read_tsv
from data_helpers import edit_params

pytestmark = pytest.mark.e2e

STAGES = ("check_params", "ingest@D2", "ingest@D3", "ingest@D4", "prepare", "split", "train", "export", "evaluate",
          "index")
SERIES = ("eval_score", "avg_cosine", "val_mrr_at_10", "train_loss")
LIVE = Path("dvclive/plots/metrics")


REPRO_OUTPUT: dict[str, str] = {}


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model_dir) -> Path:
    path = make_repo_copy(tmp_path_factory.mktemp("e2e") / "repo", tiny_model_dir)
    proc = dvc("repro", cwd=path)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in proc.stdout
    REPRO_OUTPUT.update(stdout=proc.stdout, stderr=proc.stderr)
    return path


def test_train_prints_readable_progress_not_raw_dicts(repo):
    """Under `dvc repro` (stdout not a terminal): plain progress lines, one line per evaluation, no raw dicts."""
    out = REPRO_OUTPUT["stdout"]
    n = total_steps(repo)
    progress = re.findall(r"^train: step (\d+)/(\d+) \(\d+%\)  loss [\d.]+  \[\S+ elapsed, ETA \S+\]$", out, re.M)
    assert progress and all(int(total) == n for _, total in progress)
    assert len(progress) <= 11, "about one line every 10% of the steps"
    evals = re.findall(r"^step (\d+)/\d+ \(epoch [\d.]+\)  eval_score -?[\d.]+  avg_cosine -?[\d.]+  "
                       r"val_mrr@10 [\d.]+(?:  train_loss [\d.]+)?  \[\S+\]$", out, re.M)
    assert [int(s) for s in evals] == json.loads((repo / "metrics/train.json").read_text())["eval_steps"]
    assert "\r" not in out, "no carriage returns in a log"
    for noise in ("{'", "eval_samples_per_second", "Computing widget examples", "train_runtime"):
        assert noise not in out and noise not in REPRO_OUTPUT["stderr"], noise


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
    for stage in STAGES[1:]:  # check_params writes a fixed text, kept in git
        outs = lock["stages"][stage]["outs"]
        assert outs, stage
        for out in outs:
            assert re.fullmatch(r"[0-9a-f]{32}(\.dir)?", out.get("md5", "")), (stage, out)
    train_outs = {o["path"] for o in lock["stages"]["train"]["outs"]}
    assert {"models/model", "dvclive/plots", "dvclive/params.yaml", "dvclive/metrics.json",
            "metrics/train.json"} <= train_outs


def test_published_model_loads_and_encodes(repo):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    emb = model.encode(["পদ্মা নদী কোথায়?", "ঢাকা বাংলাদেশের রাজধানী"])
    assert emb.shape == (2, 32)
    selection = json.loads((repo / "models/model/selection.json").read_text())
    assert selection == {"run": json.loads((repo / "metrics/train.json").read_text())["run"],
                         "step": total_steps(repo), "select": "last"}


def test_repro_ends_with_a_ready_index_that_search_reads(repo):
    manifest = json.loads((repo / "models/index/manifest.json").read_text(encoding="utf-8"))
    passages = (repo / "data/prepared/passages.jsonl").read_text(encoding="utf-8").splitlines()
    assert manifest["count"] == len(passages) and manifest["approximate"] is False
    proc = banglasim("search", "পদ্মা নদী কোথায়?", "--json", "--top-k", "3", cwd=repo)
    assert [hit["rank"] for hit in json.loads(proc.stdout)["hits"]] == [1, 2, 3]


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
    header = "| timestamp (UTC) | epoch | step | train loss | eval score | average cosine | validation MRR@10 |"
    assert header in report
    table = report.split(header, 1)[1].split("\n\n", 1)[0].strip().splitlines()[1:]  # skip |---|
    assert table and not table[0].startswith("|---")
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
        assert cells[6] == f"{data['val_mrr_at_10'][step]:.4f}"


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


def test_training_is_deterministic(repo, tmp_path):
    """The train stage run again on the same params, data and code (in a copy of the reproduced repo, from
    step 0) gives byte-identical `dvclive/metrics.json` and weights."""
    again = tmp_path / "again"
    shutil.copytree(repo, again, symlinks=True)
    shutil.rmtree(again / ".checkpoints", ignore_errors=True)
    (again / "dvclive/metrics.json").unlink()
    banglasim("train", cwd=again)
    for rel in ("dvclive/metrics.json", "models/model/model.safetensors"):
        assert (again / rel).read_bytes() == (repo / rel).read_bytes(), f"{rel} differs between identical runs"


def changed_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout or "{}"))


def dry_run_stages(repo: Path) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", dvc("repro", "--dry", cwd=repo).stdout))


def test_bootstrap_samples_change_reruns_only_evaluate(repo):
    edit_params(repo, evaluate__bootstrap_samples=60)
    try:
        assert changed_stages(repo) == {"check_params", "evaluate"}
        assert dry_run_stages(repo) == {"check_params", "evaluate"}
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    assert changed_stages(repo) == set()


def test_learning_rate_change_does_not_rerun_prepare_or_split(repo):
    edit_params(repo, train__learning_rate=2e-3)
    try:
        assert changed_stages(repo) == {"check_params", "train", "evaluate"}
        would_run = dry_run_stages(repo)
        assert "train" in would_run
        assert not would_run & {"prepare", "split", "ingest@D2"}
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    assert changed_stages(repo) == set()


def output_hashes(repo: Path) -> dict[str, bytes]:
    """Bytes of every output file of the pipeline (models, data, metrics, DVCLive, reports)."""
    roots = ["models", "data/sources", "data/prepared", "data/splits", "metrics", "dvclive", "reports"]
    return {str(p.relative_to(repo)): p.read_bytes() for r in roots for p in sorted((repo / r).rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("section,key,value", [("train", "learning_rate", -1e-5), ("train", "epochs", 0),
                                               ("split", "val_fraction", 1.5)])
def test_a_bad_param_stops_dvc_repro_before_any_output_is_touched(repo, section, key, value):
    before = output_hashes(repo)
    edit_params(repo, **{f"{section}__{key}": value})
    try:
        proc = dvc("repro", cwd=repo, check=False)
        assert proc.returncode != 0
        assert f"{section}.{key}" in proc.stderr + proc.stdout
        ran = re.findall(r"Running stage '([\w@-]+)'", proc.stdout)
        assert ran == ["check_params"], ran
        after = output_hashes(repo)
        assert {k: v for k, v in after.items() if k != "reports/params_check.txt"} == \
            {k: v for k, v in before.items() if k != "reports/params_check.txt"}
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
    proc = dvc("repro", cwd=repo)  # the check passes again; its output is the same text: nothing else reruns
    assert re.findall(r"Running stage '([\w@-]+)'", proc.stdout) == ["check_params"]
    assert changed_stages(repo) == set()


def test_report_describes_the_run_that_made_the_model(repo):
    """A param changed without retraining: the regenerated report keeps the run's value and flags the change."""
    report = repo / "reports/training_report.md"
    original = report.read_bytes()
    edit_params(repo, train__learning_rate=0.0042)
    try:
        banglasim("evaluate", cwd=repo)
        text = report.read_text(encoding="utf-8")
        used = text.split("## Configuration of the run", 1)[1]
        assert '"learning_rate": 0.001' in used and "0.0042" not in used.split("```json", 1)[1].split("```")[0]
        assert "now differs from the params this model was trained with" in text
        assert "`train.learning_rate`: run 0.001, now 0.0042" in text
    finally:
        git("checkout", "--", "params.yaml", cwd=repo)
        banglasim("evaluate", cwd=repo)
    assert report.read_bytes() == original
    assert "now differs" not in report.read_text(encoding="utf-8")


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
    assert "tuned" in data["metrics"]["metrics/evaluate.json"]["data"]["test"]

    # The experiment's results are in the workspace: commit them and compare with the first run.
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


RATES = ("2e-3", "5e-3")


def test_queued_grid_of_learning_rates(repo):
    """A queued grid of two learning rates runs with `dvc queue start`; `dvc exp show` lists each."""
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "baseline run", "--allow-empty", cwd=repo)

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
                params = (data.get("params") or {}).get("params.yaml", {}).get("data", {})
                lr = params.get("train", {}).get("learning_rate")
                if lr is not None and data.get("metrics"):
                    found[float(lr)] = data["metrics"]
    for rate in RATES:
        metrics = found.get(float(rate))
        assert metrics is not None, f"learning_rate={rate} missing from dvc exp show: {sorted(found)}"
        live = metrics["dvclive/metrics.json"]["data"]
        assert {"eval_score", "avg_cosine", "train_loss"} <= set(live)
        assert metrics["metrics/train.json"]["data"]["selected_step"] > 0


def test_local_remote_round_trip(repo: Path, tmp_path: Path) -> None:
    """Push to a local-folder remote, lose the cache and the outputs, pull: everything is back in sync."""
    remote = tmp_path / "remote-storage"
    dvc("remote", "add", "-d", "localremote", str(remote), cwd=repo)
    dvc("push", cwd=repo)
    assert any(remote.rglob("*")), "dvc push stored nothing in the remote"

    shutil.rmtree(repo / ".dvc" / "cache")
    for out in ("data/prepared", "data/splits", "models/base", "models/model"):
        shutil.rmtree(repo / out)
    assert "deleted" in dvc("status", cwd=repo).stdout

    dvc("pull", cwd=repo)
    status = dvc("status", cwd=repo).stdout
    assert "Data and pipelines are up to date" in status, status
    assert (repo / "models/model/model.safetensors").exists()
    assert (repo / "data/splits/train.jsonl").stat().st_size > 0


def test_a_source_outside_the_repository_is_a_tracked_dependency(tmp_path, tiny_model_dir):
    """A source folder outside data/raw (here outside the repository) is hashed in dvc.lock: editing one of its
    files makes `dvc status` report the change, and `dvc repro` re-reads it and reruns prepare."""
    repo = make_repo_copy(tmp_path / "repo", tiny_model_dir)
    outside = tmp_path / "elsewhere" / "EXT"
    shutil.copytree(REPO_ROOT / "data/raw/sample/D4/BanQA/data", outside)
    edit_params(repo, data__sources={"D2": "data/raw/sample/D2/BanQA/data", "EXT": str(outside)})
    dvc("repro", "prepare", cwd=repo)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert str(outside) in {d["path"] for d in lock["stages"]["ingest@EXT"]["deps"]}
    assert json.loads(dvc("status", "--with-deps", "prepare", "--json", cwd=repo).stdout or "{}") == {}
    questions = json.loads((repo / "metrics/prepare.json").read_text())["sources"]["EXT"]["questions"]

    doc = json.loads((outside / "qa.json").read_text(encoding="utf-8"))
    doc["data"][0]["paragraphs"][0]["qas"].append({"id": "new-1", "question": "নতুন প্রশ্ন কী?", "answers": []})
    (outside / "qa.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    status = json.loads(dvc("status", "--with-deps", "prepare", "--json", cwd=repo).stdout or "{}")
    assert "ingest@EXT" in status and str(outside) in json.dumps(status, ensure_ascii=False), status
    assert "ingest@D2" not in status
    proc = dvc("repro", "prepare", cwd=repo)
    assert "Running stage 'ingest@EXT'" in proc.stdout and "Running stage 'prepare'" in proc.stdout
    assert "Running stage 'ingest@D2'" not in proc.stdout
    assert json.loads((repo / "metrics/prepare.json").read_text())["sources"]["EXT"]["questions"] == questions + 1


def run_of_each_output(repo: Path) -> dict[str, str]:
    """The run key each train output says it came from."""
    return {"models/model": json.loads((repo / "models/model/selection.json").read_text())["run"],
            "dvclive": yaml.safe_load((repo / "dvclive/params.yaml").read_text())["run"],
            "metrics/train.json": json.loads((repo / "metrics/train.json").read_text())["run"],
            "reports/run_record.json": json.loads((repo / "reports/run_record.json").read_text())["run"]}


@pytest.mark.parametrize("point,max_count", [("train-step", 12), ("checkpoint", 2), ("publish", 6)])
def test_kill_9_in_each_phase_of_train_then_dvc_repro(repo, point, max_count):
    """SIGKILL the train stage at a random point of one of its phases (training, checkpointing, publishing)
    under `dvc repro`, rerun `dvc repro`: the pipeline is in sync and every train output is of one run."""
    import random

    count = random.Random(f"{point}-seed").randint(1, max_count)
    edit_params(repo, train__learning_rate={"train-step": 2e-3, "checkpoint": 3e-3, "publish": 4e-3}[point])
    killed = dvc("repro", cwd=repo, check=False, env={"BANGLASIM_KILL_AT": f"{point}:{count}"})
    assert killed.returncode != 0, f"the train stage was not killed at {point}:{count}"
    assert "Running stage 'evaluate'" not in killed.stdout
    runs = set(run_of_each_output(repo).values())
    if point != "publish":
        assert len(runs) == 1, f"before its publish, a killed run leaves the previous outputs alone: {runs}"
    dvc("repro", cwd=repo)
    assert changed_stages(repo) == set()
    runs = run_of_each_output(repo)
    assert len(set(runs.values())) == 1, runs
    (key,) = set(runs.values())
    assert (repo / ".checkpoints" / key / "FINISHED").exists()
