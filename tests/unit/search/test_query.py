"""`banglasim search --model models/model`: the Sentence Transformers path (slow, exact, kept for comparison): ranked
passages with scores and sources, corpus embeddings cached on disk. The export path: test_search_export.py."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from banglasim.cli import main

PASSAGES = [
    {"passage_id": "p-1", "text": "পদ্মা বাংলাদেশের একটি প্রধান নদী।", "title": "পদ্মা", "sources": ["D2"], "files": []},
    {"passage_id": "p-2", "text": "রসগোল্লা একটি জনপ্রিয় মিষ্টি।", "title": "রসগোল্লা", "sources": ["D4"], "files": []},
    {"passage_id": "p-3", "text": "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।", "title": "চাঁদ", "sources": ["D3"], "files": []},
]


@pytest.fixture
def run_search(monkeypatch, capsys):
    """`banglasim search ARGS` in `cwd`, in this process (the model and libraries load once per session):
    returncode, stdout and stderr as a subprocess would give them."""

    def run(cwd: Path, *args: str, stdin: str | None = None) -> SimpleNamespace:
        capsys.readouterr()
        with monkeypatch.context() as m:
            m.chdir(cwd)
            if stdin is not None:
                m.setattr(sys, "stdin", io.StringIO(stdin))
            code = main(["search", *args, "--model", "models/model"])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def workspace(tmp_path: Path, model_dir: Path) -> Path:
    shutil.copytree(model_dir, tmp_path / "models" / "model")
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "passages.jsonl").write_text(
        "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PASSAGES), encoding="utf-8"
    )
    return tmp_path


def test_search_ranks_passages_and_caches_the_corpus(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    first = run_search(cwd, "পদ্মা কোন দেশের নদী?", "--top-k", "2")
    assert first.returncode == 0, first.stderr
    assert "computed and cached" in first.stdout
    ranked = [line for line in first.stdout.splitlines() if line.lstrip()[:2].rstrip(".").isdigit()]
    assert len(ranked) == 2 and ranked[0].lstrip().startswith("1.")
    assert any(src in first.stdout for src in ("[D2]", "[D3]", "[D4]"))
    assert len(list((cwd / ".cache" / "search").glob("*.npy"))) == 1

    second = run_search(cwd, "চাঁদ কী?", "--top-k", "3")
    assert second.returncode == 0, second.stderr
    assert "from cache" in second.stdout


def test_search_over_a_corpus_folder(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "qa.jsonl").write_text(
        json.dumps({"question": "নদী?", "context": "যমুনা একটি বড় নদী।"}, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    proc = run_search(cwd, "যমুনা কী?", "--corpus", str(corpus))
    assert proc.returncode == 0, proc.stderr
    assert "যমুনা একটি বড় নদী।" in proc.stdout


def test_search_without_a_trained_model_says_what_to_do(run_search, tmp_path):
    proc = run_search(tmp_path, "প্রশ্ন?")
    assert proc.returncode == 2
    assert "--model" in proc.stderr and "no trained model" in proc.stderr and "dvc repro" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_truncated_cache_file_is_rebuilt_not_fatal(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    assert run_search(cwd, "পদ্মা কোথায়?").returncode == 0
    (cache,) = (cwd / ".cache" / "search").glob("*.npy")
    cache.write_bytes(cache.read_bytes()[:40])  # cut short, as a killed writer or a full disk leaves it
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 0, proc.stderr
    assert "computed and cached" in proc.stdout
    assert run_search(cwd, "চাঁদ?").stdout.startswith("corpus embeddings: from cache")


def test_a_corrupt_model_file_is_a_clean_error_naming_the_option(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    weights = cwd / "models/model/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --model 'models/model' could not be loaded")
    assert "fix:" in proc.stderr


def test_corpus_errors_name_the_corpus_option(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    proc = run_search(cwd, "প্রশ্ন?", "--corpus", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "--corpus" in proc.stderr and "data.sources" not in proc.stderr


def test_question_from_a_file_or_standard_input(run_search, tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    long_question = "পদ্মা নদী কোথায়? " * 5000  # longer than a command line comfortably holds
    (tmp_path / "q.txt").write_text(long_question, encoding="utf-8")
    from_file = run_search(cwd, "--question-file", str(tmp_path / "q.txt"), "--top-k", "1")
    assert from_file.returncode == 0, from_file.stderr
    from_stdin = run_search(cwd, "-", "--top-k", "1", stdin=long_question)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_file.stdout.splitlines()[1:] == from_stdin.stdout.splitlines()[1:]


# ---------------------------------------------------------------- search checks its files (issue 19.7)


@pytest.mark.parametrize("name", ["tokenizer_config.json", "config_sentence_transformers.json"])
def test_a_model_folder_missing_a_file_it_needs_is_an_error_naming_it(tmp_path, tiny_model_dir, name, run_search):
    """Without tokenizer_config.json e5's tokenizer crashed ("WordPiece error: Missing [UNK] token"); without
    config_sentence_transformers.json the prompts the model was trained with were dropped, silently (exit 0)."""
    cwd = workspace(tmp_path, tiny_model_dir)
    (cwd / "models/model" / name).unlink()
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"error: --model 'models/model' is incomplete: {name} missing"), proc.stderr
    assert "fix:" in proc.stderr and "dvc checkout" in proc.stderr


def _search_twice_with_a_damaged_cache(run_search, cwd: Path, damage) -> SimpleNamespace:
    first = run_search(cwd, "পদ্মা কোথায়?", "--top-k", "3")
    assert first.returncode == 0, first.stderr
    (cache,) = (cwd / ".cache" / "search").glob("*.npy")
    np.save(cache, damage(np.load(cache)))
    proc = run_search(cwd, "পদ্মা কোথায়?", "--top-k", "3")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "corpus embeddings: computed and cached" in proc.stdout, proc.stdout
    assert proc.stdout == first.stdout, "the rebuilt embeddings give the first answer"
    assert np.isfinite(np.load(cache)).all()
    return proc


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda emb: np.full_like(emb, np.nan), id="all-nan"),  # printed "1. nan"
        pytest.param(lambda emb: np.where(np.arange(emb.size).reshape(emb.shape) == 3, np.inf, emb), id="one-inf"),
        pytest.param(lambda emb: np.hstack([emb, emb]), id="wrong-width"),  # "ValueError: matmul ..." traceback
    ],
)
def test_a_cache_file_of_the_right_rows_but_bad_values_or_width_is_rebuilt(
    tmp_path, tiny_model_dir, damage, run_search
):
    _search_twice_with_a_damaged_cache(run_search, workspace(tmp_path, tiny_model_dir), damage)


# ---------------------------------------------------------------- minor (issue 19)


def test_an_unwritable_cache_says_not_cached(tmp_path, tiny_model_dir, run_search):
    """A cache that cannot be written (read-only .cache: here a file where the folder should be, as chmod does not
    stop root) printed a warning and then "computed and cached"."""
    cwd = workspace(tmp_path, tiny_model_dir)
    (cwd / ".cache").write_text("not a folder\n")
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 0, proc.stderr
    assert "warning: corpus embeddings not cached" in proc.stderr
    assert "corpus embeddings: computed, not cached" in proc.stdout and "computed and cached" not in proc.stdout


def test_records_skipped_from_a_corpus_folder_are_counted_and_reported(tmp_path, tiny_model_dir, run_search):
    """A passage too long for --corpus (or any bad record) was dropped without a word."""
    cwd = workspace(tmp_path, tiny_model_dir)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [
        {"question": "নদী?", "context": "যমুনা একটি বড় নদী।"},
        {"question": "খুব বড়?", "context": "ক" * (10**7 + 1)},
        {"question": "", "context": "পদ্মা একটি নদী।"},
    ]
    (corpus / "qa.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    proc = run_search(cwd, "যমুনা কী?", "--corpus", str(corpus))
    assert proc.returncode == 0, proc.stderr
    assert "2 bad record(s) or file(s) skipped (empty_question: 1, passage_too_long: 1)" in proc.stderr, proc.stderr
    assert "10,000,000 characters" in proc.stderr
