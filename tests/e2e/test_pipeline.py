"""The tiny repository after one `dvc repro` of the whole pipeline: what each stage wrote, that a second repro runs
nothing, and that the report describes the run that made the model (determinism: tests/e2e/test_resume.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from data_helpers import edit_params
from repo_helpers import banglasim, dvc, git, read_tsv

pytestmark = pytest.mark.e2e

STAGES = (
    "check_params",
    "ingest@D2",
    "ingest@D3",
    "ingest@D4",
    "prepare",
    "split",
    "train",
    "export",
    "evaluate",
    "index",
)
SERIES = ("eval_score", "avg_cosine", "val_mrr_at_10", "train_loss")
LIVE = Path("dvclive/plots/metrics")


def test_repro_ran_every_stage(reproduced):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in reproduced.stdout


def test_train_prints_readable_progress_not_raw_dicts(reproduced):
    """Under `dvc repro` (stdout not a terminal): plain progress lines, one line per evaluation, no raw dicts."""
    out, repo = reproduced.stdout, reproduced.path
    n = total_steps(repo)
    progress = re.findall(r"^train: step (\d+)/(\d+) \(\d+%\)  loss [\d.]+  \[\S+ elapsed, ETA \S+\]$", out, re.M)
    assert progress and all(int(total) == n for _, total in progress)
    assert len(progress) <= 11, "about one line every 10% of the steps"
    evals = re.findall(
        r"^step (\d+)/\d+ \(epoch [\d.]+\)  eval_score -?[\d.]+  avg_cosine -?[\d.]+  "
        r"val_mrr@10 [\d.]+(?:  train_loss [\d.]+)?  \[\S+\]$",
        out,
        re.M,
    )
    assert [int(s) for s in evals] == json.loads((repo / "metrics/train.json").read_text())["eval_steps"]
    assert "\r" not in out, "no carriage returns in a log"
    for noise in ("{'", "eval_samples_per_second", "Computing widget examples", "train_runtime"):
        assert noise not in out and noise not in reproduced.stderr, noise


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


def test_lock_lists_every_stage_with_hashed_outs(reproduced):
    repo = reproduced.path
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(STAGES) <= set(lock["stages"])
    for stage in STAGES[1:]:  # check_params writes a fixed text, kept in git
        outs = lock["stages"][stage]["outs"]
        assert outs, stage
        for out in outs:
            assert re.fullmatch(r"[0-9a-f]{32}(\.dir)?", out.get("md5", "")), (stage, out)
    train_outs = {o["path"] for o in lock["stages"]["train"]["outs"]}
    assert {
        "models/model",
        "dvclive/plots",
        "dvclive/params.yaml",
        "dvclive/metrics.json",
        "metrics/train.json",
    } <= train_outs


def test_published_model_loads_and_encodes(reproduced):
    repo = reproduced.path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(repo / "models/model"), device="cpu")
    emb = model.encode(["পদ্মা নদী কোথায়?", "ঢাকা বাংলাদেশের রাজধানী"])
    assert emb.shape == (2, 32)
    selection = json.loads((repo / "models/model/selection.json").read_text())
    assert selection == {
        "run": json.loads((repo / "metrics/train.json").read_text())["run"],
        "step": total_steps(repo),
        "select": "last",
    }


def test_repro_ends_with_a_ready_index_that_search_reads(reproduced):
    repo = reproduced.path
    manifest = json.loads((repo / "models/index/manifest.json").read_text(encoding="utf-8"))
    passages = (repo / "data/prepared/passages.jsonl").read_text(encoding="utf-8").splitlines()
    assert manifest["count"] == len(passages) and manifest["approximate"] is False
    proc = banglasim("search", "পদ্মা নদী কোথায়?", "--json", "--top-k", "3", cwd=repo)
    assert [hit["rank"] for hit in json.loads(proc.stdout)["hits"]] == [1, 2, 3]


def test_dvclive_series_have_one_row_per_evaluation_step(reproduced):
    repo = reproduced.path
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
    every = max(1, n // 50)  # the step series: every few optimizer steps, and the last
    want = sorted({*range(every, n + 1, every), n})
    for name in ("train_loss", "learning_rate"):
        rows = read_tsv(repo / LIVE / "steps" / f"{name}.tsv")
        assert [int(r["step"]) for r in rows] == want, name
        assert all(math.isfinite(float(r[name])) and float(r[name]) >= 0 for r in rows), name
    assert "steps" not in live, "the step series stay out of dvclive/metrics.json (and dvc exp show)"


def test_training_report_matches_the_dvclive_series(reproduced):
    repo = reproduced.path
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


def test_run_record_has_no_blank_fields(reproduced):
    repo = reproduced.path
    record = json.loads((repo / "reports/run_record.json").read_text())
    assert record["versions"], "no versions recorded"
    for pkg, version in record["versions"].items():
        assert isinstance(version, str) and version.strip() not in ("", "unknown", "None"), pkg
    for key in ("device", "precision", "wall_seconds", "train_pairs"):
        assert record.get(key) not in (None, ""), key
    assert record["resumed_from"] is None


def test_second_repro_runs_nothing(reproduced):
    repo = reproduced.path
    proc = dvc("repro", cwd=repo)
    out = proc.stdout
    assert "Running stage" not in out
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in out
    assert "Data and pipelines are up to date." in out
    status = dvc("status", "--json", cwd=repo)
    assert json.loads(status.stdout or "{}") == {}


def test_report_describes_the_run_that_made_the_model(repo, monkeypatch):
    """A param changed without retraining: the report the evaluate stage writes (here its write_report, in this
    process, from the evaluation the stage saved) keeps the run's value and flags the change; with the params
    restored it is the stage's report again, byte for byte."""
    from banglasim.evaluation.report import write_report

    monkeypatch.chdir(repo)
    evaluation = json.loads(Path("reports/evaluation.json").read_text(encoding="utf-8"))
    report = repo / "reports/training_report.md"
    original = report.read_bytes()
    edit_params(repo, train__learning_rate=0.0042)
    write_report(evaluation)
    text = report.read_text(encoding="utf-8")
    used = text.split("## Configuration of the run", 1)[1]
    assert '"learning_rate": 0.001' in used and "0.0042" not in used.split("```json", 1)[1].split("```")[0]
    assert "now differs from the params this model was trained with" in text
    assert "`train.learning_rate`: run 0.001, now 0.0042" in text
    git("checkout", "--", "params.yaml", cwd=repo)
    write_report(evaluation)
    assert report.read_bytes() == original
    assert "now differs" not in report.read_text(encoding="utf-8")
