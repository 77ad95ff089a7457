"""Small helpers shared by the data-stage tests: Bengali fixtures, input files, params.yaml, the CLI.

Imported as `from data_helpers import ...` (pyproject.toml puts tests/helpers on sys.path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from file_writers import write_json, write_jsonl, write_table  # noqa: F401 (also imported from here)

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_PARAMS = REPO_ROOT / "params.yaml"

# Natural Bengali passages, each with (id, question, answer) triples; every answer occurs verbatim.
PASSAGES: list[tuple[str, list[tuple[str, str, str]]]] = [
    (entry["passage"], [(q["id"], q["question"], q["answer"]) for q in entry["questions"]])
    for entry in json.loads((REPO_ROOT / "tests" / "fixtures" / "passages.json").read_text(encoding="utf-8"))
]

DISTRICTS = [
    "ঢাকা",
    "চট্টগ্রাম",
    "রাজশাহী",
    "খুলনা",
    "বরিশাল",
    "সিলেট",
    "রংপুর",
    "কুমিল্লা",
    "যশোর",
    "দিনাজপুর",
    "পাবনা",
    "ফরিদপুর",
    "টাঙ্গাইল",
    "জামালপুর",
    "সাতক্ষীরা",
    "নেত্রকোনা",
    "কিশোরগঞ্জ",
    "মাদারীপুর",
    "গাজীপুর",
    "নরসিংদী",
    "ভোলা",
    "পটুয়াখালী",
    "ঝিনাইদহ",
    "মেহেরপুর",
]
CROPS = ["ধান", "পাট", "গম", "আলু", "সরিষা", "আখ"]
BN_DIGITS = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


def nfc(text: str) -> str:
    """What prepare makes of a text: NFC, whitespace folded."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def bn(n: int) -> str:
    return str(n).translate(BN_DIGITS)


def qa(qid: str, question: str, answer: str | None = None, **extra: Any) -> dict:
    """One SQuAD question record; answer None gives an empty answers list (SQuAD 2.0 style)."""
    answers = [] if answer is None else [{"text": answer, "answer_start": 0}]
    rec: dict[str, Any] = {"id": qid, "question": question, "answers": answers}
    rec.update(extra)
    return rec


def squad(paragraphs: list[tuple[str, list[dict]]], title: str = "বাংলাদেশ", version: str = "1.1") -> dict:
    """A SQuAD document with one article holding the given (context, qas) paragraphs."""
    return {
        "version": version,
        "data": [{"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs]}],
    }


def sample_squad(passages=PASSAGES, prefix: str = "") -> dict:
    return squad([(text, [qa(prefix + i, q, a) for i, q, a in qs]) for text, qs in passages])


def farm_squad(n_passages: int, questions_per_passage: int = 5, prefix: str = "f") -> dict:
    """A larger document: one passage per district (distinct texts), up to 6 distinct questions each."""
    assert questions_per_passage <= 6
    paragraphs = []
    for i in range(n_passages):
        d, crop, tons = DISTRICTS[i % len(DISTRICTS)], CROPS[i % len(CROPS)], bn(1000 + 37 * i)
        text = f"{d} জেলার প্রধান ফসল {crop}। সেখানে প্রতি বছর প্রায় {tons} টন {crop} উৎপন্ন হয়। (তথ্যসূত্র {bn(i + 1)})"
        templates = [
            f"{d} জেলার প্রধান ফসল কী?",
            f"{d} জেলায় প্রতি বছর কত টন {crop} উৎপন্ন হয়?",
            f"কোন জেলায় বছরে প্রায় {tons} টন {crop} হয়?",
            f"{d} জেলার কৃষকেরা কোন ফসল বেশি চাষ করেন?",
            f"{d} জেলার ফসল উৎপাদনের তথ্যসূত্র কত নম্বর?",
            f"{d} জেলায় {crop} ছাড়া আর কী জন্মে?",
        ]
        qas = [qa(f"{prefix}{i}-{k}", templates[k], crop) for k in range(questions_per_passage)]
        paragraphs.append((text, qas))
    return squad(paragraphs, title="কৃষি")


# ---- writing files -------------------------------------------------------------------------------------------


def source_map(sources: list[str | Path]) -> dict[str, str]:
    """data.sources for a list of folders, each named by its first path part after the common prefix
    ('src/D2' -> D2, 'x/D3/BanQA/data' -> D3); names that are no valid source name become S1, S2, ..."""
    parts = [Path(s).parts for s in sources]
    common = len(os.path.commonprefix(parts)) if len(parts) > 1 else len(parts[0]) - 1
    names = [p[common] if len(p) > common else p[-1] for p in parts]
    names = [n if re.fullmatch(r"[A-Za-z0-9_-]+", n) else f"S{i}" for i, n in enumerate(names, 1)]
    return dict(zip(names, map(str, sources)))


def write_params(root: Path, sources: list[str | Path], **overrides: Any) -> Path:
    """Copy the repository's params.yaml into `root` with data.sources replaced (named by folder).

    Overrides use dotted names with '__' for the dot: prepare__on_error="skip".
    """
    path = root / "params.yaml"
    path.write_text(REPO_PARAMS.read_text(encoding="utf-8"), encoding="utf-8")
    edit_params(root, data__sources=source_map(sources), **overrides)
    return path


DELETE = object()  # edit_params(repo, train__seed=DELETE) removes the param


def edit_params(root: Path, **overrides: Any) -> None:
    """Change params in place: edit_params(repo, train__epochs=2); `root` is a folder (its params.yaml) or a
    params file. The one helper tests use to edit params."""
    path = root / "params.yaml" if root.is_dir() else root
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in overrides.items():
        section, name = key.split("__", 1)
        if value is DELETE:
            del params[section][name]
        else:
            params[section][name] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")


# ---- running and reading -------------------------------------------------------------------------------------


def run_cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m banglasim ARGS` in a fresh process, cwd=root."""
    env = dict(os.environ)
    src = str(REPO_ROOT / "src")
    env["PYTHONIOENCODING"] = "utf-8"  # stderr names Bengali paths; keep it readable whatever the locale
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run(
        [sys.executable, "-m", "banglasim", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )


def run_prepare(root: Path) -> subprocess.CompletedProcess:
    """`ingest` (every source) then `prepare`, as `dvc repro` runs them; the first failure is returned."""
    proc = run_cli(root, "ingest")
    return proc if proc.returncode != 0 else run_cli(root, "prepare")


def prepare_main() -> int:
    """In-process `ingest` then `prepare` in the current directory; the first non-zero exit code, else 0."""
    from banglasim.cli import main

    return main(["ingest"]) or main(["prepare"])


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh.read().split("\n") if line.strip()]


def metrics(root: Path, stage: str = "prepare") -> dict:
    return json.loads((root / "metrics" / f"{stage}.json").read_text(encoding="utf-8"))


def prepared(root: Path) -> tuple[list[dict], list[dict]]:
    """(examples, passages) written by prepare."""
    return (read_jsonl(root / "data/prepared/examples.jsonl"), read_jsonl(root / "data/prepared/passages.jsonl"))


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """A clean bad-input exit: code 2, one 'error:' paragraph naming every needle, no traceback."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stdout, err)
    assert "Traceback" not in err, err
    text = err.strip()
    assert text.startswith("error: "), err
    assert not re.search(r"\n[ \t]*\n", text), f"more than one paragraph (a blank line):\n{err}"
    for needle in needles:
        assert needle in err, f"{needle!r} not in stderr:\n{err}"
    return err


def assert_no_prepare_output(root: Path) -> None:
    assert not (root / "data/prepared").exists(), list((root / "data").rglob("*"))
    assert not (root / "metrics/prepare.json").exists()
