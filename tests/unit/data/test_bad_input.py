"""Bad input to prepare: with on_error fail a clean one-paragraph error naming the file (and record) and no output;
with on_error skip the problem is counted under its reason. Plus property tests on random JSON documents."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from file_writers import write_json, write_jsonl, write_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_helpers import (
    PASSAGES,
    assert_no_prepare_output,
    assert_user_error,
    metrics,
    prepare_main,
    prepared,
    qa,
    read_jsonl,
    run_prepare,
    sample_squad,
    squad,
    write_params,
)

DHAKA, TAGORE = PASSAGES[0][0], PASSAGES[1][0]
GOOD_QUESTIONS = sum(len(qs) for _, qs in PASSAGES[2:])
OK_ROW = {"id": "ok-1", "question": "রবীন্দ্রনাথ কবে নোবেল পান?", "context": TAGORE, "answer": "১৯১৩ সালে"}


@dataclass
class Case:
    write: Callable[[Path], None]  # writes the bad file into the source folder
    reason: str  # the key counted under records_skipped with on_error: skip
    needles: tuple[str, ...]  # what the error must name: the file, and the record where there is one
    file_level: bool = False  # the whole file is unreadable (counted in files_rejected too)
    good_in_bad_file: int = 0  # usable questions in the bad file besides the bad one


def _text(name: str, text: str) -> Callable[[Path], None]:
    return lambda src: (src / name).write_text(text, encoding="utf-8")


def _utf16_squad(src: Path) -> None:
    (src / "bad.json").write_bytes(json.dumps(sample_squad(PASSAGES[:1]), ensure_ascii=False).encode("utf-16"))


def _stray_byte_jsonl(src: Path) -> None:
    good = json.dumps(OK_ROW, ensure_ascii=False).encode("utf-8")
    bad = json.dumps({"id": "x-2", "question": "ঢাকা কোথায়?", "context": DHAKA}, ensure_ascii=False).encode("utf-8")
    (src / "bad.jsonl").write_bytes(good + b"\n" + bad.replace("ঢাকা কোথায়".encode(), b"\xe0\xa6 \xff") + b"\n")


def _squad_with(record: dict, context: object = DHAKA, drop_context: bool = False) -> Callable[[Path], None]:
    def write(src: Path) -> None:
        doc = squad([(DHAKA, [qa("ok-1", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা")]), (context, [record])])
        if drop_context:
            del doc["data"][0]["paragraphs"][1]["context"]
        write_json(src / "bad.json", doc)

    return write


def _jsonl_with(record: dict) -> Callable[[Path], None]:
    return lambda src: write_jsonl(src / "bad.jsonl", [OK_ROW, record])


LONG_PASSAGE = ("বাংলা ভাষা পৃথিবীর অন্যতম প্রধান ভাষা। " * 30000)[:1_000_000]  # about 1 MB of characters

CASES = {
    "malformed_json": Case(
        _text("bad.json", '{"data": [{"title": "ঢাকা", "paragraphs": [{"context": "ঢাকা বাংলাদেশের রাজধানী।",'),
        "malformed_json",
        ("src/A/bad.json",),
        file_level=True,
    ),
    "schema_not_squad": Case(
        lambda src: write_json(src / "bad.json", [{"প্রশ্ন": "বাংলাদেশের রাজধানী কোনটি?", "উত্তর": "ঢাকা"}]),
        "bad_schema",
        ("src/A/bad.json",),
        file_level=True,
    ),
    "schema_no_paragraphs": Case(
        lambda src: write_json(src / "bad.json", {"data": [{"title": "ঢাকা", "qas": [{"question": "কী?"}]}]}),
        "bad_schema",
        ("src/A/bad.json", "data[0]"),
        file_level=True,
    ),
    "table_without_question_column": Case(
        lambda src: write_table(src / "bad.csv", ["প্রশ্ন", "context"], [["বাংলাদেশের রাজধানী কোনটি?", DHAKA]]),
        "bad_schema",
        ("src/A/bad.csv", "question"),
        file_level=True,
    ),
    "csv_unclosed_quote": Case(  # a quote never closed swallowed every row after it (issue 19.3)
        _text(
            "bad.csv",
            "id,question,context\nu1,ঢাকা কোথায়?,ঢাকা বাংলাদেশের রাজধানী।\n"
            'u2,পদ্মা কোথায়?,"পদ্মা নদী বাংলাদেশের প্রধান নদী।\nu3,যমুনা কোথায়?,যমুনা একটি নদী।\n',
        ),
        "malformed_table",
        ("src/A/bad.csv", "row 3", "quot"),
        file_level=True,
    ),
    "csv_extra_field": Case(
        _text(
            "bad.csv", "id,question,context\nx1,ঢাকা কোথায়?,ঢাকা বাংলাদেশের রাজধানী।\nx2,পদ্মা কোথায়?,পদ্মা নদী, বাংলাদেশের প্রধান নদী।\n"
        ),
        "wrong_field_count",
        ("src/A/bad.csv", "row 3", "x2", "3 columns", "4 fields"),
        good_in_bad_file=1,
    ),
    "not_utf8_utf16_json": Case(_utf16_squad, "not_utf8", ("src/A/bad.json", "UTF-8"), file_level=True),
    "not_utf8_stray_byte": Case(_stray_byte_jsonl, "not_utf8", ("src/A/bad.jsonl", "line 2"), file_level=True),
    "empty_question": Case(
        _squad_with({"id": "eq-2", "question": " \t ", "answers": []}),
        "empty_question",
        ("src/A/bad.json", "data[0].paragraphs[1].qas[0]", "eq-2"),
        good_in_bad_file=1,
    ),
    "empty_question_jsonl": Case(
        _jsonl_with({"id": "eq-3", "question": "", "context": DHAKA}),
        "empty_question",
        ("src/A/bad.jsonl", "line 2", "eq-3"),
        good_in_bad_file=1,
    ),
    "empty_passage": Case(
        _jsonl_with({"id": "ep-2", "question": "ঢাকা কোন নদীর তীরে অবস্থিত?", "context": "   "}),
        "empty_passage",
        ("src/A/bad.jsonl", "line 2", "ep-2"),
        good_in_bad_file=1,
    ),
    "empty_passage_squad": Case(
        _squad_with({"id": "ep-3", "question": "ঢাকা কোন নদীর তীরে অবস্থিত?"}, context=""),
        "empty_passage",
        ("src/A/bad.json", "data[0].paragraphs[1].qas[0]", "ep-3"),
        good_in_bad_file=1,
    ),
    "passage_too_long": Case(
        _jsonl_with({"id": "pl-2", "question": "বাংলা ভাষা কেমন?", "context": LONG_PASSAGE}),
        "passage_too_long",
        ("src/A/bad.jsonl", "line 2", "pl-2", "max_passage_chars"),
        good_in_bad_file=1,
    ),
    "question_without_passage": Case(
        _jsonl_with({"id": "np-2", "question": "ঢাকা কোন নদীর তীরে অবস্থিত?", "answer": "বুড়িগঙ্গা"}),
        "no_passage",
        ("src/A/bad.jsonl", "line 2", "np-2"),
        good_in_bad_file=1,
    ),
    "question_without_passage_squad": Case(
        _squad_with({"id": "np-3", "question": "ঢাকা কোন নদীর তীরে অবস্থিত?"}, drop_context=True),
        "no_passage",
        ("src/A/bad.json", "data[0].paragraphs[1].qas[0]", "np-3"),
        good_in_bad_file=1,
    ),
}


def make_repo(root: Path, case: Case, on_error: str) -> Path:
    src = root / "src/A"
    src.mkdir(parents=True)
    write_json(src / "good.json", sample_squad(PASSAGES[2:]))
    case.write(src)
    write_params(root, ["src/A"], prepare__on_error=on_error)
    return root


@pytest.mark.parametrize("name", CASES)
def test_bad_input_fails_cleanly(tmp_path, name):
    case = CASES[name]
    make_repo(tmp_path, case, "fail")
    proc = run_prepare(tmp_path)
    assert proc.returncode != 0
    err = assert_user_error(proc, *case.needles, "fix")
    assert "on_error" in err  # says how to skip instead
    assert_no_prepare_output(tmp_path)


@pytest.mark.parametrize("name", CASES)
def test_bad_input_skipped_and_counted(tmp_path, monkeypatch, name):
    case = CASES[name]
    make_repo(tmp_path, case, "skip")
    monkeypatch.chdir(tmp_path)
    assert prepare_main() == 0
    m = metrics(tmp_path)
    for counts in (m["sources"]["A"], m["total"]):
        assert counts["records_skipped"] == {case.reason: 1}
        assert counts["files_rejected"] == (1 if case.file_level else 0)
        assert counts["files_read"] == (1 if case.file_level else 2)
        assert counts["questions"] == GOOD_QUESTIONS + case.good_in_bad_file
    examples, passages = prepared(tmp_path)
    assert len(examples) == GOOD_QUESTIONS + case.good_in_bad_file
    assert all(e["query"].strip() and e["passage_id"] for e in examples)
    assert all(0 < len(p["text"]) <= 100_000 for p in passages)


def test_skip_all_bad_is_still_an_error(tmp_path):
    src = tmp_path / "src/A"
    src.mkdir(parents=True)
    (src / "bad.json").write_text("{নয়", encoding="utf-8")
    write_jsonl(src / "q.jsonl", [{"id": "n1", "question": "ঢাকা কোথায়?"}])
    write_params(tmp_path, ["src/A"], prepare__on_error="skip")
    assert_user_error(run_prepare(tmp_path), "fix")
    assert_no_prepare_output(tmp_path)


def test_skip_counts_several_reasons_per_source(tmp_path, monkeypatch):
    for label in ("D2", "D3"):
        (tmp_path / "src" / label).mkdir(parents=True)
    write_json(tmp_path / "src/D2/good.json", sample_squad(PASSAGES[:2]))
    write_jsonl(
        tmp_path / "src/D2/bad.jsonl",
        [
            {"id": "1", "question": "", "context": DHAKA},
            {"id": "2", "question": "ঢাকা কোথায়?"},
            {"id": "3", "question": "ঢাকা কোথায়?", "context": ""},
            {"id": "4", "question": "   ", "context": TAGORE},
        ],
    )
    (tmp_path / "src/D3/broken.json").write_text("[{]", encoding="utf-8")
    write_json(tmp_path / "src/D3/good.json", sample_squad(PASSAGES[2:]))
    write_params(tmp_path, ["src/D2", "src/D3"], prepare__on_error="skip")
    monkeypatch.chdir(tmp_path)
    assert prepare_main() == 0
    m = metrics(tmp_path)
    assert m["sources"]["D2"]["records_skipped"] == {"empty_question": 2, "no_passage": 1, "empty_passage": 1}
    assert m["sources"]["D3"]["records_skipped"] == {"malformed_json": 1}
    assert m["total"]["records_skipped"] == {
        "empty_passage": 1,
        "empty_question": 2,
        "malformed_json": 1,
        "no_passage": 1,
    }
    assert m["total"]["files_rejected"] == 1
    assert m["total"]["questions"] == sum(len(qs) for _, qs in PASSAGES)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
@pytest.mark.parametrize("contents", ["nothing", "only_other_files"])
def test_empty_source_folder_is_an_error(tmp_path, on_error, contents):
    (tmp_path / "src/D2").mkdir(parents=True)
    write_json(tmp_path / "src/D2/qa.json", sample_squad())
    empty = tmp_path / "src/D3"
    empty.mkdir(parents=True)
    if contents == "only_other_files":
        (empty / "notes.txt").write_text("এখানে কোনো প্রশ্ন নেই", encoding="utf-8")
        (empty / "sub").mkdir()
        (empty / "sub/readme.md").write_text("# খালি", encoding="utf-8")
    write_params(tmp_path, ["src/D2", "src/D3"], prepare__on_error=on_error)
    assert_user_error(run_prepare(tmp_path), "src/D3", "fix")
    assert_no_prepare_output(tmp_path)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_missing_source_folder_is_an_error(tmp_path, on_error):
    (tmp_path / "src/D2").mkdir(parents=True)
    write_json(tmp_path / "src/D2/qa.json", sample_squad())
    (tmp_path / "src/D4").write_text("a file, not a folder", encoding="utf-8")
    for missing in ("src/নেই", "src/D4"):
        write_params(tmp_path, ["src/D2", missing], prepare__on_error=on_error)
        assert_user_error(run_prepare(tmp_path), "data.sources", missing, "fix")
        assert_no_prepare_output(tmp_path)


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_lone_surrogate_escape_is_bad_input_not_a_crash(tmp_path, monkeypatch, on_error):
    r"""JSON may spell a lone UTF-16 surrogate ("\ud800"); such text cannot be written as UTF-8.
    With on_error: fail it stops with a message naming the file and record; with skip it is counted as bad_text."""
    src = tmp_path / "src/A"
    src.mkdir(parents=True)
    write_json(src / "good.json", sample_squad(PASSAGES[2:]))
    doc = squad([(DHAKA, [{"id": "s1", "question": "বাংলাদেশের রাজধানী\ud800 কোনটি?", "answers": []}])])
    (src / "bad.json").write_text(json.dumps(doc, ensure_ascii=True), encoding="utf-8")
    write_params(tmp_path, ["src/A"], prepare__on_error=on_error)
    if on_error == "fail":
        assert_user_error(run_prepare(tmp_path), "src/A/bad.json", "data[0].paragraphs[0].qas[0]", "s1", "fix")
        assert_no_prepare_output(tmp_path)
        return
    monkeypatch.chdir(tmp_path)
    assert prepare_main() == 0
    assert metrics(tmp_path)["total"]["records_skipped"] == {"bad_text": 1}
    examples, _ = prepared(tmp_path)
    assert "s1" not in {e["original_id"] for e in examples}
    assert len(examples) == GOOD_QUESTIONS


# ---- property tests: random documents never crash prepare ------------------------------------------------------

BENGALI = "অআইঈউঊএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহড়ঢ়য়ৎংঃঁািীুূৃেৈোৌ্০১২৩৪৫৬৭৮৯।?, "
texts = st.text(max_size=12) | st.text(alphabet=BENGALI, max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=16,
)


def _maybe(strategy):
    return strategy | json_values


def _mostly(strategy):
    """Usually the well-formed value, sometimes any JSON value: keeps the success path in reach."""
    return st.one_of(strategy, strategy, strategy, json_values)


words = st.text(alphabet=BENGALI, min_size=1, max_size=40)
answers = st.lists(
    st.fixed_dictionaries({}, optional={"text": _maybe(texts), "answer_start": _maybe(st.integers())}), max_size=2
)
# partial SQuAD: any key may be missing or of any type
qas = st.fixed_dictionaries(
    {},
    optional={"id": json_values, "question": _maybe(texts), "answers": _maybe(answers), "is_impossible": st.booleans()},
)
paragraphs = st.fixed_dictionaries({}, optional={"context": _maybe(texts), "qas": _maybe(st.lists(qas, max_size=3))})
articles = st.fixed_dictionaries(
    {}, optional={"title": _maybe(texts), "paragraphs": _maybe(st.lists(paragraphs, max_size=3))}
)
squad_partial = st.fixed_dictionaries(
    {}, optional={"version": json_values, "data": _maybe(st.lists(articles, max_size=3))}
)
# nearly SQuAD: the keys are there, mostly well typed
near_qas = st.fixed_dictionaries(
    {"question": _mostly(words)},
    optional={"id": json_values, "answers": _mostly(answers), "is_impossible": st.booleans()},
)
near_paragraphs = st.fixed_dictionaries(
    {"context": _mostly(words), "qas": _mostly(st.lists(near_qas, min_size=1, max_size=3))}
)
near_articles = st.fixed_dictionaries(
    {"paragraphs": _mostly(st.lists(near_paragraphs, min_size=1, max_size=3))}, optional={"title": _mostly(texts)}
)
squad_near = st.fixed_dictionaries(
    {"data": _mostly(st.lists(near_articles, min_size=1, max_size=2))}, optional={"version": json_values}
)
# well-formed SQuAD with random extras: the success path
valid_qas = st.fixed_dictionaries(
    {"question": words},
    optional={
        "id": json_values,
        "answers": st.lists(st.fixed_dictionaries({"text": texts}), max_size=2),
        "is_impossible": st.booleans(),
        "extra": json_values,
    },
)
squad_valid = st.fixed_dictionaries(
    {
        "data": st.lists(
            st.fixed_dictionaries(
                {
                    "paragraphs": st.lists(
                        st.fixed_dictionaries({"context": words, "qas": st.lists(valid_qas, max_size=3)}), max_size=3
                    )
                },
                optional={"title": json_values},
            ),
            min_size=1,
            max_size=2,
        )
    }
)
squad_docs = st.one_of(json_values, squad_partial, squad_near, squad_valid)
flat_rows = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "question": _maybe(texts),
        "context": _maybe(texts),
        "passage": _maybe(texts),
        "answer": _maybe(texts),
        "title": json_values,
    },
)
near_rows = st.fixed_dictionaries(
    {"question": _mostly(words)},
    optional={"id": json_values, "context": _mostly(words), "passage": _mostly(words), "answer": _mostly(texts)},
)
valid_rows = st.fixed_dictionaries({"question": words, "context": words}, optional={"id": json_values, "answer": texts})
row_lists = st.lists(valid_rows, min_size=1, max_size=5) | st.lists(
    near_rows | flat_rows | json_values, min_size=1, max_size=5
)


class _InTempRepo:
    """cwd = a fresh temporary repository for one example (hypothesis reruns the body many times)."""

    def __enter__(self) -> Path:
        self._tmp = tempfile.TemporaryDirectory()
        self._old = os.getcwd()
        root = Path(self._tmp.name)
        os.chdir(root)
        return root

    def __exit__(self, *exc) -> None:
        os.chdir(self._old)
        self._tmp.cleanup()


def _check_prepare(root: Path, on_error: str, max_chars: int) -> None:
    write_params(root, ["src/A"], prepare__on_error=on_error, prepare__max_passage_chars=max_chars)
    code = prepare_main()
    assert code in (0, 2)
    if code == 2:
        assert_no_prepare_output(root)
        return
    examples = read_jsonl(root / "data/prepared/examples.jsonl")
    passages = read_jsonl(root / "data/prepared/passages.jsonl")
    m = json.loads((root / "metrics/prepare.json").read_text(encoding="utf-8"))
    assert examples and passages
    assert m["total"]["examples"] == len(examples)
    pids = {p["passage_id"] for p in passages}
    assert len(pids) == len(passages)
    assert {e["passage_id"] for e in examples} == pids
    for e in examples:
        assert isinstance(e["query"], str) and e["query"].strip() == e["query"] and e["query"]
    for p in passages:
        assert isinstance(p["text"], str) and p["text"] and len(p["text"]) <= max_chars


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _prepare_one_file(name: str, text: str, on_error: str, max_chars: int) -> None:
    """prepare on a fresh repository whose only source file is `name` holding `text`."""
    with _InTempRepo() as root:
        (root / "src/A").mkdir(parents=True)
        (root / "src/A" / name).write_text(text, encoding="utf-8")
        _check_prepare(root, on_error, max_chars)


ON_ERROR, MAX_CHARS = st.sampled_from(["fail", "skip"]), st.sampled_from([10, 100_000])


@FUZZ
@given(doc=squad_docs, on_error=ON_ERROR, max_chars=MAX_CHARS)
def test_random_json_document_never_crashes(doc, on_error, max_chars):
    _prepare_one_file("doc.json", json.dumps(doc, ensure_ascii=False), on_error, max_chars)


@FUZZ
@given(rows=row_lists, on_error=ON_ERROR, max_chars=MAX_CHARS)
def test_random_json_lines_never_crash(rows, on_error, max_chars):
    _prepare_one_file("rows.jsonl", "".join(json.dumps(r) + "\n" for r in rows), on_error, max_chars)


# ---- input gaps, each under its own reason; the JSON report ----------------------------------------------------


@pytest.mark.parametrize("question,reason", [("\u200b\ufeff\u200d", "invisible_question"), (1971, "question_not_text")])
def test_invisible_and_numeric_questions_are_counted_under_their_own_reason(tmp_path, monkeypatch, question, reason):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", squad([(DHAKA, [qa("bad", question), qa("ok", "ঢাকা কোথায়?")])]))
    write_params(tmp_path, ["src/A"], prepare__on_error="skip")
    assert prepare_main() == 0
    assert metrics(tmp_path)["total"]["records_skipped"] == {reason: 1}
    write_params(tmp_path, ["src/A"], prepare__on_error="fail")
    assert_user_error(run_prepare(tmp_path), "src/A/qa.json", "bad", reason.replace("_", " "))


@pytest.mark.parametrize("kind", ["broken_symlink", "symlink_loop"])
def test_broken_and_looping_links_are_named_and_counted(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", sample_squad())
    link = tmp_path / "src/A/extra.json"
    if kind == "broken_symlink":
        link.symlink_to(tmp_path / "nowhere.json")
    else:
        link.symlink_to(link)
    write_params(tmp_path, ["src/A"], prepare__on_error="fail")
    assert_user_error(run_prepare(tmp_path), "src/A/extra.json", kind.replace("_", " "), "fix")
    write_params(tmp_path, ["src/A"], prepare__on_error="skip")
    assert prepare_main() == 0
    m = metrics(tmp_path)
    assert m["total"]["records_skipped"] == {kind: 1} and "A/extra.json" in m["skipped_files"]


def test_json_report_of_prepare_is_strict_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_json(tmp_path / "src/A/qa.json", sample_squad())
    write_params(tmp_path, ["src/A"])
    assert prepare_main() == 0
    json.loads((tmp_path / "metrics/prepare.json").read_text(), parse_constant=lambda c: pytest.fail(c))
