"""split: grouped by passage or random, val_fraction, seeds, and the scored validation pairs."""

from __future__ import annotations

from collections import defaultdict

import pytest

from banglasim.cli import main

from data_helpers import (
    assert_user_error,
    edit_params,
    farm_squad,
    metrics,
    prepare_main,
    prepared,
    read_jsonl,
    run_cli,
    write_json,
    write_params,
)

N_PASSAGES, PER_PASSAGE = 24, 5
N_EXAMPLES = N_PASSAGES * PER_PASSAGE


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A prepared repository (cwd): 24 passages with 5 questions each."""
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", farm_squad(N_PASSAGES, PER_PASSAGE))
    write_params(tmp_path, ["src/A"])
    assert prepare_main() == 0
    assert metrics(tmp_path)["total"]["examples"] == N_EXAMPLES
    return tmp_path


def split(root, **overrides):
    """Run split with split.* overrides; return (train rows, validation rows, metrics); the test rows are in
    split.test_rows."""
    edit_params(root, **{f"split__{k}": v for k, v in overrides.items()})
    assert main(["split"]) == 0
    split.test_rows = read_jsonl(root / "data/splits/test.jsonl")
    return (
        read_jsonl(root / "data/splits/train.jsonl"),
        read_jsonl(root / "data/splits/validation.jsonl"),
        metrics(root, "split"),
    )


def positives(val_rows):
    return [r for r in val_rows if r["score"] == 1.0]


@pytest.mark.parametrize("seed", [1, 7, 42])
@pytest.mark.parametrize("fractions", [(0.2, 0.1), (0.1, 0.3), (0.05, 0.05)])
def test_grouped_split_puts_each_passage_in_one_split_only(repo, seed, fractions):
    train, val, m = split(repo, group_by="passage", val_fraction=fractions[0], test_fraction=fractions[1], seed=seed)
    test = split.test_rows
    pids = {
        name: {r["passage_id"] for r in rows}
        for name, rows in (("train", train), ("val", positives(val)), ("test", positives(test)))
    }
    assert all(pids.values())
    assert not pids["train"] & pids["val"] and not pids["train"] & pids["test"] and not pids["val"] & pids["test"]
    assert m["val_passages_in_train"] == m["test_passages_in_train"] == m["test_passages_in_validation"] == 0
    assert (m["train_passages"], m["val_passages"], m["test_passages"]) == tuple(map(len, pids.values()))
    assert len(train) + len(positives(val)) + len(positives(test)) == N_EXAMPLES
    assert (m["train_examples"], m["val_queries"], m["val_pairs"], m["test_queries"], m["test_pairs"]) == (
        len(train),
        len(positives(val)),
        len(val),
        len(positives(test)),
        len(test),
    )
    # the negatives of a held-out question are passages of its own split
    for rows, own in ((val, pids["val"]), (test, pids["test"])):
        assert {r["passage_id"] for r in rows} <= own


def test_random_split_puts_passages_on_both_sides(repo):
    train, val, m = split(repo, group_by="none", val_fraction=0.2)
    train_pids = {r["passage_id"] for r in train}
    val_pids = {r["passage_id"] for r in positives(val)}
    shared = train_pids & val_pids
    assert shared, "with 5 questions per passage a random split should share passages"
    assert m["val_passages_in_train"] == len(shared)
    assert len(train) + len(positives(val)) + len(positives(split.test_rows)) == N_EXAMPLES


@pytest.mark.parametrize("group_by", ["passage", "none"])
@pytest.mark.parametrize("fraction", [0.1, 0.25, 0.5])
def test_val_fraction_respected(repo, group_by, fraction):
    train, val, m = split(repo, group_by=group_by, val_fraction=fraction)
    n_val = len(positives(val))
    slack = PER_PASSAGE if group_by == "passage" else 1  # whole passages move together
    assert abs(n_val - fraction * N_EXAMPLES) <= slack, (n_val, fraction)
    assert len(train) + n_val + len(positives(split.test_rows)) == N_EXAMPLES


def test_negatives_per_query_zero_is_rejected(repo):
    """0 would make the eval score (a Spearman over 1.0/0.0 pairs) undefined: refused before any work."""
    edit_params(repo, split__negatives_per_query=0)
    assert_user_error(run_cli(repo, "split"), "split.negatives_per_query", ">= 1")


def test_fractions_must_leave_room_for_train(repo):
    edit_params(repo, split__val_fraction=0.5, split__test_fraction=0.5)
    assert_user_error(run_cli(repo, "split"), "split.val_fraction + split.test_fraction")


@pytest.mark.parametrize("group_by", ["passage", "none"])
def test_same_seed_same_files_other_seed_other_split(repo, group_by):
    def files():
        return [(repo / "data/splits" / f).read_bytes() for f in ("train.jsonl", "validation.jsonl", "test.jsonl")]

    split(repo, group_by=group_by, seed=7)
    first = files()
    split(repo, group_by=group_by, seed=7)
    assert files() == first
    _, val_other, _ = split(repo, group_by=group_by, seed=8)
    _, val_first, _ = split(repo, group_by=group_by, seed=7)
    assert files() == first
    assert {r["query_id"] for r in positives(val_other)} != {r["query_id"] for r in positives(val_first)}


@pytest.mark.parametrize("group_by", ["passage", "none"])
@pytest.mark.parametrize("negatives", [1, 3])
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
    test_qids = {r["query_id"] for r in split.test_rows}
    assert not train_qids & set(rows_by_query) and not test_qids & set(rows_by_query)
    assert train_qids | set(rows_by_query) | test_qids == set(own)
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


# ---------------------------------------------------------------- splits too small to measure (issue 19.9)


@pytest.mark.parametrize(
    ("n_passages", "group_by", "fix"),
    [(1, "none", "add data"), (3, "passage", "add data"), (24, "passage", "raise split.val_fraction")],
)
def test_a_held_out_split_with_fewer_than_two_passages_is_refused(tmp_path, monkeypatch, n_passages, group_by, fix):
    """1 passage ranked against itself scores MRR@10 1.0: refused, with advice that fits (more data, or a larger
    fraction), never "set split.negatives_per_query >= 1" while it is already 1."""
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", farm_squad(n_passages, PER_PASSAGE))
    write_params(tmp_path, ["src/A"], split__group_by=group_by, split__val_fraction=0.01 if n_passages > 3 else 0.1)
    assert prepare_main() == 0
    err = assert_user_error(run_cli(tmp_path, "split"), "validation split", "1 distinct passage", fix)
    assert "negatives_per_query" not in err
    assert not (tmp_path / "data/splits").exists()


def test_validation_pairs_without_a_negative_get_advice_that_fits(tiny_model_dir):
    """Only 1.0 pairs (what 1 passage gave): the score is NaN; the fix said "set split.negatives_per_query >= 1"
    even when it was 1. It now says what is missing."""
    from banglasim.core.errors import UserError
    from banglasim.evaluation.evaluators import PairSimilarityEvaluator
    from banglasim.models.loading import load_model

    ev = PairSimilarityEvaluator(["ঢাকা কোথায়?", "রাজধানী কোনটি?"], ["ঢাকা বাংলাদেশের রাজধানী।"] * 2, [1.0, 1.0])
    with pytest.raises(UserError, match="undefined") as exc:
        ev(load_model(str(tiny_model_dir)))
    assert ">= 1" not in exc.value.fix and "0.0" in exc.value.fix
