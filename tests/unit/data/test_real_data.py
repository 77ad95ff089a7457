"""prepare + split on the real Bengali factoid QA data (read in place, never copied): the data card's counts.

The data lives beside the repository, in ../shared/datasets/bangla-factoid-qa/ (CI: beside its clone).
"""

from __future__ import annotations

import pytest

from banglasim.cli import main

from data_helpers import REPO_ROOT, metrics, prepare_main, read_jsonl, write_params

DATASET = "shared/datasets/bangla-factoid-qa"
CANDIDATES = [
    REPO_ROOT.parent / DATASET,  # <repo's parent>/shared/...
    REPO_ROOT / DATASET,  # a checkout that carries shared/ inside it
]
REAL_DATA = next((p for p in CANDIDATES if p.is_dir()), CANDIDATES[0])
SOURCES = [REAL_DATA / d / "BanQA/data" for d in ("D2", "D3", "D4")]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    if not all(s.is_dir() for s in SOURCES):
        pytest.skip(f"real data not found at {REAL_DATA}")
    root = tmp_path_factory.mktemp("real")
    write_params(root, SOURCES, prepare__on_error="fail", prepare__num_samples=10000, split__group_by="passage")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        assert prepare_main() == 0
        assert main(["split"]) == 0
    return root


def test_prepare_totals(real_run):
    t = metrics(real_run)["total"]
    assert t["questions"] == 6782
    assert t["passages"] == 1306
    assert t["distinct_passages"] == 1304
    assert t["duplicates_dropped"] == 9
    assert t["answers_not_found"] == 319
    assert t["no_answer"] == 5
    assert t["examples"] == 6773
    assert t["records_skipped"] == {} and t["files_rejected"] == 0 and t["files_read"] == 3


def test_prepare_per_source(real_run):
    sources = metrics(real_run)["sources"]
    assert {label: c["questions"] for label, c in sources.items()} == {"D2": 2357, "D3": 2169, "D4": 2256}
    assert {label: c["passages"] for label, c in sources.items()} == {"D2": 462, "D3": 419, "D4": 425}


def test_prepared_files(real_run):
    examples = read_jsonl(real_run / "data/prepared/examples.jsonl")
    passages = read_jsonl(real_run / "data/prepared/passages.jsonl")
    assert len(examples) == 6773
    assert len({(e["query"], e["passage_id"]) for e in examples}) == 6773
    assert {e["passage_id"] for e in examples} == {p["passage_id"] for p in passages}
    assert {e["source"] for e in examples} == {"D2", "D3", "D4"}


def test_grouped_split(real_run):
    m = metrics(real_run, "split")
    assert m["val_passages_in_train"] == m["test_passages_in_train"] == m["test_passages_in_validation"] == 0
    assert m["train_examples"] + m["val_queries"] + m["test_queries"] == 6773
    train = read_jsonl(real_run / "data/splits/train.jsonl")
    held = {
        name: {r["passage_id"] for r in read_jsonl(real_run / f"data/splits/{name}.jsonl") if r["score"] == 1.0}
        for name in ("validation", "test")
    }
    train_pids = {r["passage_id"] for r in train}
    assert not train_pids & held["validation"] and not train_pids & held["test"]
    assert not held["validation"] & held["test"]
