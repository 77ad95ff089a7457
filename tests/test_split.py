"""split: grouped by passage or random, val_fraction, seeds, and the scored validation pairs."""

from __future__ import annotations

from collections import defaultdict

import pytest

from banglasim.cli import main
from data_helpers import (
    assert_user_error, edit_params, farm_squad, metrics, prepared, read_jsonl, run_cli, write_json, write_params,
)

N_PASSAGES, PER_PASSAGE = 24, 5
N_EXAMPLES = N_PASSAGES * PER_PASSAGE


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A prepared repository (cwd): 24 passages with 5 questions each."""
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", farm_squad(N_PASSAGES, PER_PASSAGE))
    write_params(tmp_path, ["src/A"])
    assert main(["prepare"]) == 0
    assert metrics(tmp_path)["total"]["examples"] == N_EXAMPLES
    return tmp_path


def split(root, **overrides):
    """Run split with split.* overrides; return (train rows, validation rows, metrics)."""
    edit_params(root, **{f"split__{k}": v for k, v in overrides.items()})
    assert main(["split"]) == 0
    return (read_jsonl(root / "data/splits/train.jsonl"), read_jsonl(root / "data/splits/validation.jsonl"),
            metrics(root, "split"))


def positives(val_rows):
    return [r for r in val_rows if r["score"] == 1.0]


def test_grouped_split_keeps_passages_on_one_side(repo):
    train, val, m = split(repo, group_by="passage", val_fraction=0.2)
    assert m["val_passages_in_train"] == 0
    train_pids = {r["passage_id"] for r in train}
    val_pids = {r["passage_id"] for r in positives(val)}
    assert train_pids and val_pids and not train_pids & val_pids
    assert m["train_passages"] == len(train_pids) and m["val_passages"] == len(val_pids)
    assert len(train) + len(positives(val)) == N_EXAMPLES
    assert (m["train_examples"], m["val_queries"], m["val_pairs"]) == (len(train), len(positives(val)), len(val))


def test_random_split_puts_passages_on_both_sides(repo):
    train, val, m = split(repo, group_by="none", val_fraction=0.2)
    train_pids = {r["passage_id"] for r in train}
    val_pids = {r["passage_id"] for r in positives(val)}
    shared = train_pids & val_pids
    assert shared, "with 5 questions per passage a random split should share passages"
    assert m["val_passages_in_train"] == len(shared)
    assert len(train) + len(positives(val)) == N_EXAMPLES


@pytest.mark.parametrize("group_by", ["passage", "none"])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_val_fraction_respected(repo, group_by, fraction):
    train, val, m = split(repo, group_by=group_by, val_fraction=fraction)
    n_val = len(positives(val))
    slack = PER_PASSAGE if group_by == "passage" else 1  # whole passages move together
    assert abs(n_val - fraction * N_EXAMPLES) <= slack, (n_val, fraction)
    assert len(train) + n_val == N_EXAMPLES


@pytest.mark.parametrize("group_by", ["passage", "none"])
def test_same_seed_same_files_other_seed_other_split(repo, group_by):
    def files():
        return [(repo / "data/splits" / f).read_bytes() for f in ("train.jsonl", "validation.jsonl")]

    split(repo, group_by=group_by, seed=7)
    first = files()
    split(repo, group_by=group_by, seed=7)
    assert files() == first
    _, val_other, _ = split(repo, group_by=group_by, seed=8)
    _, val_first, _ = split(repo, group_by=group_by, seed=7)
    assert files() == first
    assert {r["query_id"] for r in positives(val_other)} != {r["query_id"] for r in positives(val_first)}


@pytest.mark.parametrize("group_by", ["passage", "none"])
@pytest.mark.parametrize("negatives", [0, 1, 3])
def test_validation_pairs(repo, group_by, negatives):
    train, val, m = split(repo, group_by=group_by, val_fraction=0.25, negatives_per_query=negatives)
    examples, passages = prepared(repo)
    own = {e["query_id"]: e["passage_id"] for e in examples}
    query_of = {e["query_id"]: e["query"] for e in examples}
    text_of = {p["passage_id"]: p["text"] for p in passages}
    rows_by_query = defaultdict(list)
    for r in val:
        rows_by_query[r["query_id"]].append(r)
    assert len(val) == m["val_pairs"] == len(rows_by_query) * (1 + negatives)
    for qid, rows in rows_by_query.items():
        pos = [r for r in rows if r["score"] == 1.0]
        neg = [r for r in rows if r["score"] == 0.0]
        assert len(pos) + len(neg) == len(rows)
        assert len(pos) == 1 and pos[0]["passage_id"] == own[qid]
        assert len(neg) == negatives
        assert len({r["passage_id"] for r in neg}) == negatives
        assert all(r["passage_id"] != own[qid] for r in neg)
        for r in rows:
            assert r["query"] == query_of[qid]
            assert r["passage"] == text_of[r["passage_id"]]
    train_qids = {r["query_id"] for r in train}
    assert not train_qids & set(rows_by_query)
    assert train_qids | set(rows_by_query) == set(own)
    for r in train:
        assert r["anchor"] == query_of[r["query_id"]] and r["positive"] == text_of[r["passage_id"]]


@pytest.mark.parametrize("value", [1.5, 0, 1, -0.1, "tenth"])
def test_bad_val_fraction_cli(repo, value):
    edit_params(repo, split__val_fraction=value)
    err = assert_user_error(run_cli(repo, "split"), "split.val_fraction")
    assert "between 0" in err  # the allowed values
    assert not (repo / "data/splits").exists() and not (repo / "metrics/split.json").exists()


def test_split_before_prepare_is_a_user_error(tmp_path):
    write_params(tmp_path, ["src/A"])
    assert_user_error(run_cli(tmp_path, "split"), "prepare")
