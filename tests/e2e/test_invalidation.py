"""What a change makes DVC rerun, in a private copy of the reproduced repo: a param reruns only the stages that
read it, a code edit only the stages whose folders hold it, a bad param stops `dvc repro` before any output is
touched, and a source folder outside the repository is a hashed dependency."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from data_helpers import REPO_ROOT, edit_params
from repo_helpers import dvc, git

pytestmark = pytest.mark.e2e

UPSTREAM = {"check_params", "base_model", "ingest@D2", "ingest@D3", "ingest@D4", "prepare", "split", "mine"}


def changed_stages(repo: Path) -> set[str]:
    return set(json.loads(dvc("status", "--json", cwd=repo).stdout or "{}"))


def dry_run_stages(repo: Path) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", dvc("repro", "--dry", cwd=repo).stdout))


def touch_evaluation_code(repo: Path) -> None:
    code = repo / "src/banglasim/evaluation/metrics.py"
    code.write_text(code.read_text(encoding="utf-8") + "\n# an edit of the evaluation code\n", encoding="utf-8")


CHANGES = {
    "evaluate.bootstrap_samples": (
        lambda repo: edit_params(repo, evaluate__bootstrap_samples=60),
        {"check_params", "evaluate"},
    ),
    "train.learning_rate": (
        lambda repo: edit_params(repo, train__learning_rate=2e-3),
        {"check_params", "train", "evaluate"},
    ),
    "src/banglasim/evaluation": (touch_evaluation_code, {"train", "train_reranker", "evaluate"}),
    "reranker.top_k": (  # how search re-ranks: never retrains the re-ranker
        lambda repo: edit_params(repo, reranker__top_k=3),
        {"check_params", "export_reranker", "evaluate"},
    ),
    "index.nprobe": (lambda repo: edit_params(repo, index__nprobe=32), {"check_params", "index"}),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_reruns_only_the_stages_that_use_it(repo, change):
    """`dvc status` names exactly the stages that read the changed param or code folder; `dvc repro --dry` runs
    only those; undoing the change leaves the pipeline in sync. Editing evaluation code never reruns base_model,
    ingest, prepare, split or mine."""
    edit, expected = CHANGES[change]
    edit(repo)
    changed = changed_stages(repo)
    assert not changed & (UPSTREAM - expected), f"{change} must not rerun {sorted(changed & UPSTREAM)}"
    assert changed == expected
    assert dry_run_stages(repo) == expected
    git("checkout", "--", ".", cwd=repo)
    assert changed_stages(repo) == set()


def output_hashes(repo: Path) -> dict[str, bytes]:
    """Bytes of every output file of the pipeline (models, data, metrics, DVCLive, reports)."""
    roots = ["models", "data/sources", "data/prepared", "data/splits", "metrics", "dvclive", "reports"]
    return {
        str(p.relative_to(repo)): p.read_bytes() for r in roots for p in sorted((repo / r).rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    "section,key,value", [("train", "learning_rate", -1e-5), ("train", "epochs", 0), ("split", "val_fraction", 1.5)]
)
def test_a_bad_param_stops_dvc_repro_before_any_output_is_touched(repo, section, key, value):
    before = output_hashes(repo)
    edit_params(repo, **{f"{section}__{key}": value})
    proc = dvc("repro", cwd=repo, check=False)
    assert proc.returncode != 0
    assert f"{section}.{key}" in proc.stderr + proc.stdout
    ran = re.findall(r"Running stage '([\w@-]+)'", proc.stdout)
    assert ran == ["check_params"], ran
    after = output_hashes(repo)
    assert {k: v for k, v in after.items() if k != "reports/params_check.txt"} == {
        k: v for k, v in before.items() if k != "reports/params_check.txt"
    }
    git("checkout", "--", "params.yaml", cwd=repo)
    proc = dvc("repro", cwd=repo)  # the check passes again; its output is the same text: nothing else reruns
    assert re.findall(r"Running stage '([\w@-]+)'", proc.stdout) == ["check_params"]
    assert changed_stages(repo) == set()


def test_a_source_outside_the_repository_is_a_tracked_dependency(repo, tmp_path):
    """A source folder outside data/raw (here outside the repository) is hashed in dvc.lock: editing one of its
    files makes `dvc status` report the change, and `dvc repro` re-reads it and reruns prepare."""
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
