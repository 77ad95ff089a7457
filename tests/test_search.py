"""`banglasim search --model models/model`: the Sentence Transformers path (slow, exact, kept for comparison): ranked
passages with scores and sources, corpus embeddings cached on disk. The export path: test_search_export.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import tool_env

PASSAGES = [
    {"passage_id": "p-1", "text": "পদ্মা বাংলাদেশের একটি প্রধান নদী।", "title": "পদ্মা", "sources": ["D2"], "files": []},
    {"passage_id": "p-2", "text": "রসগোল্লা একটি জনপ্রিয় মিষ্টি।", "title": "রসগোল্লা", "sources": ["D4"], "files": []},
    {"passage_id": "p-3", "text": "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।", "title": "চাঁদ", "sources": ["D3"], "files": []},
]


def run_search(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "banglasim", "search", *args, "--model", "models/model"], cwd=cwd,
                          env=tool_env(), capture_output=True, text=True, timeout=300)


def workspace(tmp_path: Path, model_dir: Path) -> Path:
    shutil.copytree(model_dir, tmp_path / "models" / "model")
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "passages.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in PASSAGES),
                                             encoding="utf-8")
    return tmp_path


def test_search_ranks_passages_and_caches_the_corpus(tmp_path, tiny_model_dir):
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


def test_search_over_a_corpus_folder(tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "qa.jsonl").write_text(json.dumps({"question": "নদী?", "context": "যমুনা একটি বড় নদী।"},
                                                ensure_ascii=False) + "\n", encoding="utf-8")
    proc = run_search(cwd, "যমুনা কী?", "--corpus", str(corpus))
    assert proc.returncode == 0, proc.stderr
    assert "যমুনা একটি বড় নদী।" in proc.stdout


def test_search_without_a_trained_model_says_what_to_do(tmp_path):
    proc = run_search(tmp_path, "প্রশ্ন?")
    assert proc.returncode == 2
    assert "--model" in proc.stderr and "no trained model" in proc.stderr and "dvc repro" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_truncated_cache_file_is_rebuilt_not_fatal(tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    assert run_search(cwd, "পদ্মা কোথায়?").returncode == 0
    (cache,) = (cwd / ".cache" / "search").glob("*.npy")
    cache.write_bytes(cache.read_bytes()[:40])  # cut short, as a killed writer or a full disk leaves it
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 0, proc.stderr
    assert "computed and cached" in proc.stdout
    assert run_search(cwd, "চাঁদ?").stdout.startswith("corpus embeddings: from cache")


def test_a_corrupt_model_file_is_a_clean_error_naming_the_option(tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    weights = cwd / "models/model/model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    proc = run_search(cwd, "পদ্মা কোথায়?")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: --model 'models/model' could not be loaded")
    assert "fix:" in proc.stderr


def test_corpus_errors_name_the_corpus_option(tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    proc = run_search(cwd, "প্রশ্ন?", "--corpus", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "--corpus" in proc.stderr and "data.sources" not in proc.stderr


def test_question_from_a_file_or_standard_input(tmp_path, tiny_model_dir):
    cwd = workspace(tmp_path, tiny_model_dir)
    long_question = "পদ্মা নদী কোথায়? " * 5000  # longer than a command line comfortably holds
    (tmp_path / "q.txt").write_text(long_question, encoding="utf-8")
    from_file = run_search(cwd, "--question-file", str(tmp_path / "q.txt"), "--top-k", "1")
    assert from_file.returncode == 0, from_file.stderr
    from_stdin = subprocess.run([sys.executable, "-m", "banglasim", "search", "-", "--top-k", "1", "--model",
                                 "models/model"], cwd=cwd,
                                env=tool_env(), input=long_question, capture_output=True, text=True, timeout=300)
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_file.stdout.splitlines()[1:] == from_stdin.stdout.splitlines()[1:]
