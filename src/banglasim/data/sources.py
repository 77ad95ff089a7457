"""Reading QA source folders into normalised records, and merging several sources into passages and examples.

`read_source` is one source's work (the `ingest` stage, once per source); `merge_sources` joins them
(the `prepare` stage): identical passages across files and sources become one, duplicate
(question, passage) pairs are dropped. Every dropped, merged or skipped record is counted under its reason.
"""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from banglasim.core.errors import UserError
from banglasim.data.formats import FileProblem, RawRecord, list_files, normalize, read_records

# record problem -> what to do about it
RECORD_FIXES = {
    "bad_record": "each question record must be an object with a 'question' string",
    "malformed_json": "fix the JSON syntax of that line",
    "empty_question": "give the record a non-empty question, or remove it",
    "empty_passage": "give the record a non-empty passage (context), or remove it",
    "no_passage": "attach the question to a passage ('context' or 'passage' field)",
    "passage_too_long": "split the passage, or raise prepare.max_passage_chars",
    "bad_text": "remove the lone surrogate escape (\\ud800-\\udfff) from the record's text",
    "question_not_text": 'the question must be a string (quote it in JSON: "question": "...")',
    "invisible_question": "the question holds only invisible characters (zero-width space, BOM, ZWJ...): "
    "write the question, or remove the record",
    "invisible_passage": "the passage holds only invisible characters: give the record its passage text",
    "wrong_field_count": "give the row one field per header column; in TSV a record is one line (no line breaks "
    "in a field) and a field holding a tab is quoted; in CSV quote a field holding a comma",
}
LINK_FIXES = {
    "broken_symlink": "the link points to nothing: fix or remove it",
    "symlink_loop": "the link points back into itself: remove it",
    "unreadable_file": "make the file readable, or remove it",
}


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

    def skip(self, reason: str) -> None:
        self.records_skipped[reason] = self.records_skipped.get(reason, 0) + 1


def passage_id(text: str) -> str:
    return "p-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _encodable(*texts: object) -> bool:
    """False when a string holds a lone surrogate (valid JSON escape, not valid Unicode text)."""
    try:
        for text in texts:
            if isinstance(text, str):
                text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def visible(text: str) -> str:
    """The text without whitespace and invisible format characters (ZWSP, ZWJ, ZWNJ, BOM, LRM, ...)."""
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf")


def _record_problem(rec: RawRecord, max_chars: int) -> str | None:
    if rec.problem:
        return rec.problem
    if isinstance(rec.question, (int, float)) and not isinstance(rec.question, bool):
        return "question_not_text"
    if not isinstance(rec.question, str) or not rec.question.strip():
        return "empty_question"
    if not visible(rec.question):
        return "invisible_question"
    if rec.passage is None:
        return "no_passage"
    if not isinstance(rec.passage, str) or not rec.passage.strip():
        return "empty_passage"
    if not visible(rec.passage):
        return "invisible_passage"
    if len(rec.passage) > max_chars:
        return "passage_too_long"
    if not _encodable(rec.question, rec.passage, rec.answer, rec.title, rec.original_id):
        return "bad_text"
    return None


class _SourceReader:
    """The records and counts of one source folder, file by file (see read_source)."""

    def __init__(self, folder: str, label: str, on_error: str, max_chars: int) -> None:
        self.folder, self.path, self.label = folder, Path(folder), label
        self.on_error, self.max_chars = on_error, max_chars
        self.counts = SourceCounts()
        self.records: list[dict] = []
        self.normalized: dict[str, str] = {}  # raw passage -> normalised (a passage recurs once per question)
        self.entries_seen: set[tuple[str, str]] = set()  # (file, paragraph or passage id): one per passage entry

    def fail_or_skip(self, reason: str, message: str, fix: str) -> None:
        if self.on_error == "fail":
            raise UserError(message, fix=f"{fix}; or set prepare.on_error: skip to count and skip it")
        self.counts.skip(reason)

    def data_files(self) -> list[Path]:
        """The folder's data files; other files and bad links are listed (bad links failed or counted)."""
        c = self.counts
        data_files, other_files, bad_links = list_files(self.path)
        c.files_skipped = len(other_files)
        c.skipped_files = [f"{self.label}/{p.relative_to(self.path).as_posix()}" for p in other_files]
        for link, reason in bad_links:
            rel = link.relative_to(self.path).as_posix()
            self.fail_or_skip(reason, f"{self.folder}/{rel}: {reason.replace('_', ' ')}", LINK_FIXES[reason])
            c.skipped_files.append(f"{self.label}/{rel}")
        if not data_files:
            raise UserError(
                f"source folder '{self.folder}' has no data files (.json, .jsonl, .csv, .tsv)",
                fix=f"put the QA files there, or remove data.sources.{self.label}",
            )
        return data_files

    def read_file(self, file: Path) -> None:
        rel = f"{self.folder}/{file.relative_to(self.path).as_posix()}"  # as the user names it in data.sources
        try:
            raw = read_records(file)
        except FileProblem as exc:
            self.fail_or_skip(exc.reason, f"{rel}: {exc.message}", exc.fix)
            self.counts.files_rejected += 1
            return
        self.counts.files_read += 1
        for rec in raw:
            problem = _record_problem(rec, self.max_chars)
            if problem:
                where = f"{rel}, record {rec.where} (id {rec.original_id or '?'})"
                self.fail_or_skip(problem, f"{where}: {problem.replace('_', ' ')}", RECORD_FIXES[problem])
            else:
                self.add_record(rel, rec)

    def add_record(self, rel: str, rec: RawRecord) -> None:
        c = self.counts
        passage = self.normalized.get(rec.passage)
        if passage is None:
            passage = self.normalized[rec.passage] = normalize(rec.passage)
        pid = passage_id(passage)
        c.questions += 1
        entry = (rel, rec.entry or pid)
        new_entry = entry not in self.entries_seen
        if new_entry:
            self.entries_seen.add(entry)
            c.passages += 1
        if rec.answer is None:
            c.no_answer += 1
        elif rec.answer not in rec.passage:  # verbatim, as a SQuAD span must be
            c.answers_not_found += 1
        self.records.append(
            {
                "question": normalize(rec.question),
                "passage_id": pid,
                "passage": passage,
                "title": normalize(rec.title),
                "file": rel,
                "new_entry": new_entry,
                "original_id": rec.original_id,
                "answer": normalize(rec.answer) if rec.answer else None,
            }
        )


def read_source(
    folder: str, label: str, on_error: str, max_chars: int, params_path: str = "params.yaml"
) -> tuple[list[dict], SourceCounts]:
    """Read, validate and normalise every data file under one source folder: (records in file order, counts).

    Raises UserError on the first problem when on_error is 'fail'; counts and skips it when 'skip'.
    """
    if not Path(folder).is_dir():
        raise UserError(
            f"{params_path}: param data.sources.{label} = '{folder}' is not an existing folder",
            fix="point it at a folder of SQuAD-style JSON, JSON Lines or CSV/TSV files",
        )
    reader = _SourceReader(folder, label, on_error, max_chars)
    for file in reader.data_files():
        reader.read_file(file)
    if reader.counts.questions == 0 and on_error == "fail":
        raise UserError(f"source folder '{folder}' yielded no usable question", fix="check its files")
    return reader.records, reader.counts


def merge_sources(sources: dict[str, tuple[list[dict], SourceCounts]]) -> tuple[dict[str, dict], list[dict]]:
    """Join sources in order: (passages by id, examples). Updates each source's merge and duplicate counts."""
    passages: dict[str, dict] = {}
    examples: list[dict] = []
    seen_pairs: set[tuple[str, str]] = set()
    for label, (records, c) in sources.items():
        for rec in records:
            pid, rel = rec["passage_id"], rec["file"]
            if rec["new_entry"]:
                if pid in passages:
                    c.passages_merged += 1
                    merged = passages[pid]
                    merged["sources"] = sorted(set(merged["sources"]) | {label})
                    merged["files"] = sorted(set(merged["files"]) | {rel})
                else:
                    passages[pid] = {
                        "passage_id": pid,
                        "text": rec["passage"],
                        "title": rec["title"],
                        "sources": [label],
                        "files": [rel],
                    }
            question = rec["question"]
            if (question, pid) in seen_pairs:
                c.duplicates_dropped += 1
                continue
            seen_pairs.add((question, pid))
            examples.append(
                {
                    "query_id": "q-" + hashlib.sha1(f"{question}\x00{pid}".encode()).hexdigest()[:12],
                    "query": question,
                    "passage_id": pid,
                    "source": label,
                    "file": rel,
                    "original_id": rec["original_id"],
                    "answer": rec["answer"],
                }
            )
    if not examples:
        raise UserError("no usable (question, passage) pair in any source", fix="check data.sources and the counts")
    return passages, examples


CORPUS_MAX_PASSAGE_CHARS = 10**7  # search --corpus: longer passages are skipped, counted and reported


def read_corpus(folder: str) -> list[dict]:
    """Passages of one folder in any format prepare reads, bad records skipped (for `search --corpus`)."""
    if not Path(folder).is_dir():
        raise UserError(
            f"--corpus '{folder}' is not a folder", fix="pass a folder of QA files (.json/.jsonl/.csv/.tsv)"
        )
    label = Path(folder).resolve().name or "corpus"
    try:
        source = read_source(folder, label, "skip", CORPUS_MAX_PASSAGE_CHARS)
        passages, _ = merge_sources({label: source})
    except UserError as exc:
        raise UserError(
            f"--corpus '{folder}' holds no usable passage ({exc.message})",
            fix="pass a folder of QA files with questions and their passages",
        ) from None
    skipped = source[1].records_skipped
    if skipped:
        print(
            f"warning: --corpus '{folder}': {sum(skipped.values())} bad record(s) or file(s) skipped ("
            + ", ".join(f"{reason}: {n}" for reason, n in sorted(skipped.items()))
            + ")"
            + (
                f"; passages over {CORPUS_MAX_PASSAGE_CHARS:,} characters are not searched"
                if "passage_too_long" in skipped
                else ""
            ),
            file=sys.stderr,
        )
    return [passages[pid] for pid in sorted(passages)]


def counts_dict(c: SourceCounts) -> dict:
    return asdict(c)


def counts_from_dict(d: dict) -> SourceCounts:
    return SourceCounts(**d)


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
