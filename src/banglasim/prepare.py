"""Stage `prepare`: merge every source folder into passages and (query, passage) training examples.

Writes data/prepared/{passages,examples}.jsonl and metrics/prepare.json (the counts, per source).
Nothing is lost silently: every dropped, merged or skipped record is counted under its reason.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from banglasim import atomic
from banglasim.errors import UserError
from banglasim.formats import FileProblem, RawRecord, list_files, normalize, read_records
from banglasim.params import check_sources_exist, load_params

PREPARED_DIR = Path("data/prepared")
METRICS_FILE = Path("metrics/prepare.json")

# record problem -> what to do about it
RECORD_FIXES = {
    "bad_record": "each question record must be an object with a 'question' string",
    "malformed_json": "fix the JSON syntax of that line",
    "empty_question": "give the record a non-empty question, or remove it",
    "empty_passage": "give the record a non-empty passage (context), or remove it",
    "no_passage": "attach the question to a passage ('context' or 'passage' field)",
    "passage_too_long": "split the passage, or raise prepare.max_passage_chars",
    "bad_text": "remove the lone surrogate escape (\\ud800-\\udfff) from the record's text",
}


def _encodable(*texts: object) -> bool:
    """False when a string holds a lone surrogate (valid JSON escape, not valid Unicode text)."""
    try:
        for text in texts:
            if isinstance(text, str):
                text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class SourceCounts:
    files_read: int = 0
    files_skipped: int = 0  # files of another kind, listed, not read
    files_rejected: int = 0  # unreadable data files (only with on_error: skip)
    passages: int = 0  # passage entries as found (before merging identical texts)
    questions: int = 0  # question records accepted (before dropping duplicates)
    duplicates_dropped: int = 0
    passages_merged: int = 0
    answers_not_found: int = 0
    no_answer: int = 0
    records_skipped: dict[str, int] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)


def source_labels(sources: list[str]) -> dict[str, str]:
    """Short unique names: the first path part after the sources' common prefix ('D2', 'D3', ...)."""
    parts = [Path(s).parts for s in sources]
    common = os.path.commonprefix(parts) if len(parts) > 1 else parts[0][:-1]
    labels = {s: (p[len(common)] if len(p) > len(common) else p[-1]) for s, p in zip(sources, parts)}
    return labels if len(set(labels.values())) == len(sources) else {s: s for s in sources}


def passage_id(text: str) -> str:
    return "p-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _record_problem(rec: RawRecord, max_chars: int) -> str | None:
    if rec.problem:
        return rec.problem
    if not isinstance(rec.question, str) or not rec.question.strip():
        return "empty_question"
    if rec.passage is None:
        return "no_passage"
    if not isinstance(rec.passage, str) or not rec.passage.strip():
        return "empty_passage"
    if len(rec.passage) > max_chars:
        return "passage_too_long"
    if not _encodable(rec.question, rec.passage, rec.answer, rec.title, rec.original_id):
        return "bad_text"
    return None


def collect(sources: list[str], on_error: str, max_chars: int, root: Path = Path(".")) -> dict:
    """Read, validate, normalise and merge all sources. Raises UserError on the first problem when on_error=fail."""
    folders = check_sources_exist(sources, root)
    labels = source_labels(sources)
    counts = {labels[s]: SourceCounts() for s in sources}
    passages: dict[str, dict] = {}
    examples: list[dict] = []
    seen_pairs: set[tuple[str, str]] = set()
    normalized: dict[str, str] = {}  # raw passage -> normalised (a passage recurs once per question)
    entries_seen: set[tuple[str, str]] = set()  # (file, paragraph or passage id): one per passage entry

    def fail_or_count(c: SourceCounts, reason: str, message: str, fix: str) -> None:
        if on_error == "fail":
            raise UserError(message, fix=f"{fix}; or set prepare.on_error: skip to count and skip it")
        c.records_skipped[reason] = c.records_skipped.get(reason, 0) + 1

    for src, folder in zip(sources, folders):
        label, c = labels[src], counts[labels[src]]
        data_files, other_files = list_files(folder)
        c.files_skipped = len(other_files)
        c.skipped_files = [f"{label}/{p.relative_to(folder).as_posix()}" for p in other_files]
        if not data_files:
            raise UserError(
                f"source folder '{src}' has no data files (.json, .jsonl, .csv, .tsv)",
                fix="put the QA files there, or remove the folder from data.sources",
            )
        for path in data_files:
            rel = f"{src}/{path.relative_to(folder).as_posix()}"  # as the user names it in data.sources
            try:
                records = read_records(path)
            except FileProblem as exc:
                if on_error == "fail":
                    raise UserError(f"{rel}: {exc.message}", fix=f"{exc.fix}; or set prepare.on_error: skip") from None
                c.files_rejected += 1
                c.records_skipped[exc.reason] = c.records_skipped.get(exc.reason, 0) + 1
                continue
            c.files_read += 1
            for rec in records:
                problem = _record_problem(rec, max_chars)
                if problem:
                    fail_or_count(c, problem, f"{rel}, record {rec.where} (id {rec.original_id or '?'}): {problem.replace('_', ' ')}", RECORD_FIXES[problem])
                    continue
                question = normalize(rec.question)
                passage = normalized.get(rec.passage)
                if passage is None:
                    passage = normalized[rec.passage] = normalize(rec.passage)
                pid = passage_id(passage)
                c.questions += 1
                entry = (rel, rec.entry or pid)
                if entry not in entries_seen:
                    entries_seen.add(entry)
                    c.passages += 1
                    if pid in passages:
                        c.passages_merged += 1
                        merged = passages[pid]
                        merged["sources"] = sorted(set(merged["sources"]) | {label})
                        merged["files"] = sorted(set(merged["files"]) | {rel})
                    else:
                        passages[pid] = {"passage_id": pid, "text": passage, "title": normalize(rec.title),
                                         "sources": [label], "files": [rel]}
                if rec.answer is None:
                    c.no_answer += 1
                elif rec.answer not in rec.passage:  # verbatim, as a SQuAD span must be
                    c.answers_not_found += 1
                if (question, pid) in seen_pairs:
                    c.duplicates_dropped += 1
                    continue
                seen_pairs.add((question, pid))
                examples.append({
                    "query_id": "q-" + hashlib.sha1(f"{question}\x00{pid}".encode()).hexdigest()[:12],
                    "query": question, "passage_id": pid, "source": label, "file": rel,
                    "original_id": rec.original_id, "answer": normalize(rec.answer) if rec.answer else None,
                })
        if c.questions == 0 and on_error == "fail":
            raise UserError(f"source folder '{src}' yielded no usable question", fix="check its files")
    if not examples:
        raise UserError("no usable (question, passage) pair in any source", fix="check data.sources and the counts")
    return {"counts": counts, "passages": passages, "examples": examples}


def totals(counts: dict[str, SourceCounts]) -> dict:
    """Sum the per-source counts (skipped reasons merged)."""
    total: dict = {}
    for c in counts.values():
        for key, value in vars(c).items():
            if isinstance(value, int):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                total.setdefault(key, Counter()).update(value)
    total["records_skipped"] = dict(sorted(total.get("records_skipped", {}).items()))
    return total


def run(params_path: str = "params.yaml") -> None:
    params = load_params(params_path, ("data", "prepare"))
    cfg = params["prepare"]
    result = collect(params["data"]["sources"], cfg["on_error"], cfg["max_passage_chars"])
    examples = sorted(result["examples"], key=lambda e: e["query_id"])  # input order must not matter
    random.Random(cfg["seed"]).shuffle(examples)
    examples = examples[: cfg["num_samples"]]
    used = {e["passage_id"] for e in examples}
    passages = [p for pid, p in sorted(result["passages"].items()) if pid in used]
    counts = result["counts"]
    metrics = {
        "total": {**totals(counts), "distinct_passages": len(result["passages"]), "examples": len(examples)},
        "sources": {label: {k: v for k, v in vars(c).items() if k != "skipped_files"} for label, c in counts.items()},
        "skipped_files": [f for c in counts.values() for f in c.skipped_files],
    }
    with atomic.atomic_dir(PREPARED_DIR) as out:
        (out / "passages.jsonl").write_text(atomic.jsonl_text(passages), encoding="utf-8")
        (out / "examples.jsonl").write_text(atomic.jsonl_text(examples), encoding="utf-8")
    atomic.write_json(METRICS_FILE, metrics)
    t = metrics["total"]
    print(f"prepare: {t['questions']} questions, {t['passages']} passage entries -> {t['distinct_passages']} distinct, "
          f"{t['duplicates_dropped']} duplicates dropped, {len(examples)} examples written to {PREPARED_DIR}/")
