"""The input formats prepare accepts: SQuAD v1.1/v2.0 JSON, JSON Lines, CSV/TSV; recursion, skipped kinds, BOM."""

from __future__ import annotations

import pytest
from file_writers import write_json, write_jsonl, write_table

from data_helpers import (
    PASSAGES,
    edit_params,
    metrics,
    nfc,
    prepare_main,
    prepared,
    qa,
    sample_squad,
    squad,
    write_params,
)

DHAKA, TAGORE = PASSAGES[0][0], PASSAGES[1][0]


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A temporary repository root (cwd) with one source folder src/A named in params.yaml."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src/A").mkdir(parents=True)
    write_params(tmp_path, ["src/A"])
    return tmp_path


def prepare_ok(root) -> tuple[dict, list[dict], list[dict]]:
    assert prepare_main() == 0
    examples, passages = prepared(root)
    return metrics(root), examples, passages


def test_squad_v11(repo):
    write_json(repo / "src/A/qa.json", sample_squad())
    m, examples, passages = prepare_ok(repo)
    n_questions = sum(len(qs) for _, qs in PASSAGES)
    t = m["total"]
    assert (t["files_read"], t["passages"], t["questions"]) == (1, len(PASSAGES), n_questions)
    assert (t["no_answer"], t["answers_not_found"], t["duplicates_dropped"]) == (0, 0, 0)
    assert len(examples) == n_questions and len(passages) == len(PASSAGES)
    assert {p["text"] for p in passages} == {nfc(text) for text, _ in PASSAGES}
    assert {e["query"] for e in examples} == {nfc(q) for _, qs in PASSAGES for _, q, _ in qs}
    by_id = {e["original_id"]: e for e in examples}
    assert by_id["tagore-2"]["answer"] == "গীতাঞ্জলি"
    text_of = {p["passage_id"]: p["text"] for p in passages}
    assert text_of[by_id["tagore-2"]["passage_id"]] == nfc(TAGORE)


def test_squad_v20_keeps_impossible_questions(repo):
    doc = squad(
        [
            (
                DHAKA,
                [
                    qa("v2-1", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা", is_impossible=False),
                    {
                        "id": "v2-2",
                        "question": "ঢাকার মেয়র কে ছিলেন ১৮৫০ সালে?",
                        "answers": [],
                        "is_impossible": True,
                        "plausible_answers": [{"text": "ঢাকা", "answer_start": 0}],
                    },
                    {"id": "v2-3", "question": "ঢাকায় কতটি মেট্রো লাইন আছে?", "is_impossible": True},
                ],
            )
        ],
        version="v2.0",
    )
    write_json(repo / "src/A/qa2.json", doc)
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["questions"] == 3
    assert m["total"]["no_answer"] == 2
    by_id = {e["original_id"]: e for e in examples}
    assert set(by_id) == {"v2-1", "v2-2", "v2-3"}
    assert by_id["v2-2"]["answer"] is None and by_id["v2-3"]["answer"] is None
    assert by_id["v2-1"]["answer"] == "ঢাকা"


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
@pytest.mark.parametrize("column", ["context", "passage"])
def test_json_lines(repo, suffix, column):
    rows = [
        {"id": "l1", "question": "বাংলাদেশের রাজধানী কোনটি?", column: DHAKA, "answer": "ঢাকা"},
        {"id": "l2", "question": "রবীন্দ্রনাথ কবে নোবেল পান?", column: TAGORE},  # answer is optional
        {"question": "ঢাকা কোন নদীর তীরে?", column: DHAKA, "answer": "বুড়িগঙ্গা"},  # id is optional
    ]
    write_jsonl(repo / f"src/A/qa{suffix}", rows)
    m, examples, passages = prepare_ok(repo)
    t = m["total"]
    assert (t["files_read"], t["questions"], t["passages"], t["no_answer"]) == (1, 3, 2, 1)
    assert len(examples) == 3 and len(passages) == 2
    assert {e["original_id"] for e in examples} == {"l1", "l2", ""}
    assert {e["answer"] for e in examples} == {"ঢাকা", None, nfc("বুড়িগঙ্গা")}


@pytest.mark.parametrize(
    "name,column", [("qa.csv", "context"), ("qa.tsv", "passage"), ("qa.csv", "passage"), ("qa.tsv", "context")]
)
def test_csv_and_tsv(repo, name, column):
    rows = [
        ["t1", "বাংলাদেশের রাজধানী কোনটি?", DHAKA, "ঢাকা"],
        ["t2", "রবীন্দ্রনাথ কবে নোবেল পান?", TAGORE, ""],  # empty answer cell: no answer
        # a quoted field with the delimiter (and, in CSV, a line break) inside
        [
            "t3",
            "ঢাকা, রাজধানী, কোন নদীর তীরে?",
            "ঢাকা বাংলাদেশের রাজধানী," + ("\n" if name.endswith(".csv") else " ") + "বুড়িগঙ্গার\tতীরে।",
            "বুড়িগঙ্গার",
        ],
    ]
    write_table(repo / f"src/A/{name}", ["id", "question", column, "answer"], rows)
    m, examples, passages = prepare_ok(repo)
    t = m["total"]
    assert (t["files_read"], t["questions"], t["passages"], t["no_answer"], t["answers_not_found"]) == (1, 3, 3, 1, 0)
    by_id = {e["original_id"]: e for e in examples}
    assert set(by_id) == {"t1", "t2", "t3"}
    assert by_id["t3"]["query"] == nfc("ঢাকা, রাজধানী, কোন নদীর তীরে?")
    text_of = {p["passage_id"]: p["text"] for p in passages}
    assert text_of[by_id["t3"]["passage_id"]] == nfc("ঢাকা বাংলাদেশের রাজধানী, বুড়িগঙ্গার তীরে।")
    assert by_id["t2"]["answer"] is None


def test_table_without_answer_column(repo):
    write_table(repo / "src/A/qa.csv", ["question", "context"], [["বাংলাদেশের রাজধানী কোনটি?", DHAKA]])
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["questions"] == 1 and m["total"]["no_answer"] == 1
    assert examples[0]["answer"] is None


def test_files_found_recursively(repo):
    write_json(repo / "src/A/2023/jan/qa.json", sample_squad(PASSAGES[:1]))
    write_jsonl(
        repo / "src/A/2024/feb/mar/more.jsonl", [{"id": "r1", "question": "রবীন্দ্রনাথ কবে নোবেল পান?", "context": TAGORE}]
    )
    write_table(
        repo / "src/A/deep/er/still/t.tsv", ["question", "passage"], [["সুন্দরবনে কোন বাঘ বাস করে?", PASSAGES[2][0]]]
    )
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["files_read"] == 3
    assert m["total"]["questions"] == len(PASSAGES[0][1]) + 2
    assert {e["file"] for e in examples} == {
        "src/A/2023/jan/qa.json",
        "src/A/2024/feb/mar/more.jsonl",
        "src/A/deep/er/still/t.tsv",
    }


def test_other_extensions_listed_as_skipped_not_read(repo):
    write_json(repo / "src/A/qa.json", sample_squad())
    (repo / "src/A/README.md").write_text("# প্রশ্নোত্তর ডেটা\n", encoding="utf-8")
    (repo / "src/A/notes").mkdir()
    (repo / "src/A/notes/raw.txt").write_bytes(b"\xff\xfe\x00not utf-8 at all {")  # would fail if read
    (repo / "src/A/notes/table.xlsx").write_bytes(b"PK\x03\x04\x00\x00")
    (repo / "src/A/backup.json.bak").write_text("{broken", encoding="utf-8")
    m, examples, _ = prepare_ok(repo)
    expected = ["A/README.md", "A/backup.json.bak", "A/notes/raw.txt", "A/notes/table.xlsx"]
    assert sorted(m["skipped_files"]) == expected
    assert m["total"]["files_skipped"] == 4 and m["sources"]["A"]["files_skipped"] == 4
    assert m["total"]["files_read"] == 1
    assert m["total"]["records_skipped"] == {}
    assert len(examples) == sum(len(qs) for _, qs in PASSAGES)


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "tsv"])
def test_utf8_bom_accepted(repo, kind):
    q, a = "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা"
    if kind == "json":
        write_json(repo / "src/A/qa.json", squad([(DHAKA, [qa("b1", q, a)])]), bom=True)
    elif kind == "jsonl":
        write_jsonl(repo / "src/A/qa.jsonl", [{"id": "b1", "question": q, "context": DHAKA, "answer": a}], bom=True)
    else:
        write_table(repo / f"src/A/qa.{kind}", ["id", "question", "context", "answer"], [["b1", q, DHAKA, a]], bom=True)
    m, examples, passages = prepare_ok(repo)
    assert m["total"]["questions"] == 1 and m["total"]["records_skipped"] == {}
    assert examples[0]["original_id"] == "b1"  # the BOM did not stick to the first column/key
    assert examples[0]["query"] == nfc(q) and examples[0]["answer"] == a
    assert passages[0]["text"] == nfc(DHAKA)


def test_mixed_formats_in_one_folder(repo):
    write_json(repo / "src/A/a.json", sample_squad(PASSAGES[:2]))
    write_jsonl(repo / "src/A/b.jsonl", [{"id": "j", "question": "সুন্দরবনে কোন বাঘ বাস করে?", "context": PASSAGES[2][0]}])
    write_table(
        repo / "src/A/c.csv", ["id", "question", "context"], [["c", "কক্সবাজার সৈকত কত কিলোমিটার লম্বা?", PASSAGES[3][0]]]
    )
    m, examples, passages = prepare_ok(repo)
    assert m["total"]["files_read"] == 3
    assert len(passages) == 4
    assert len(examples) == len(PASSAGES[0][1]) + len(PASSAGES[1][1]) + 2


def test_json_lines_split_only_on_newlines(repo):
    """JSON Lines separates records by '\\n' only. json.dumps(ensure_ascii=False) leaves U+2028, U+2029 and
    U+0085 unescaped inside strings, so they must not cut a record in two (they are whitespace: folded)."""
    rows = [
        {"id": "u1", "question": "বাংলাদেশের\u2028রাজধানী কোনটি?", "context": DHAKA + "\u2029", "answer": "ঢাকা"},
        {"id": "u2", "question": "রবীন্দ্রনাথ\x85কবে নোবেল পান?", "context": TAGORE},
    ]
    write_jsonl(repo / "src/A/qa.jsonl", rows)
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["questions"] == 2
    assert {e["query"] for e in examples} == {"বাংলাদেশের রাজধানী কোনটি?", "রবীন্দ্রনাথ কবে নোবেল পান?"}


# ---------------------------------------------------------------- quoting (issue 19.3)

SONG = '"আমার সোনার বাংলা" গানটি রবীন্দ্রনাথ ঠাকুরের লেখা এবং বাংলাদেশের জাতীয় সংগীত।'
PADMA = '"পদ্মা নদী বাংলাদেশের প্রধান নদীগুলোর একটি।'  # a quote that is never closed


def test_tsv_quotes_are_text_one_line_one_record(repo):
    """A bare quote in a TSV is text: five lines, five records, the quotes kept (they merged rows before)."""
    rows = [
        ("q1", "বাংলাদেশের রাজধানী কোনটি?", DHAKA),
        ("q2", "রবীন্দ্রনাথ কবে নোবেল পান?", TAGORE),
        ("q3", "জাতীয় সংগীত কে লিখেছেন?", SONG),
        ("q4", "পদ্মা কেমন নদী?", PADMA),
        ("q5", "ঢাকা কোন নদীর তীরে?", "ঢাকা বুড়িগঙ্গা নদীর তীরে।"),
    ]
    (repo / "src/A/qa.tsv").write_text(
        "id\tquestion\tcontext\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8"
    )
    m, examples, passages = prepare_ok(repo)
    assert m["total"]["questions"] == 5 and m["total"]["records_skipped"] == {}
    text_of = {p["passage_id"]: p["text"] for p in passages}
    got = {e["original_id"]: text_of[e["passage_id"]] for e in examples}
    assert got == {qid: nfc(text) for qid, _, text in rows}


def test_tsv_csv_style_quoting_on_one_line_is_undone(repo):
    """What Excel, pandas and Python's csv write for a field holding a tab or a quote: quoted, quotes doubled."""
    text = 'জাতীয় সংগীত\t"আমার সোনার বাংলা"'
    write_table(repo / "src/A/qa.tsv", ["question", "context"], [["জাতীয় সংগীত কোনটি?", text]])
    assert '"""' in (repo / "src/A/qa.tsv").read_text(encoding="utf-8")
    _, _, passages = prepare_ok(repo)
    assert [p["text"] for p in passages] == [nfc(text)]


@pytest.mark.parametrize("on_error", ["fail", "skip"])
def test_tsv_field_spanning_lines_is_bad_input_not_merged(repo, capsys, on_error):
    """A TSV record is one line: a field quoted across lines is never merged with the next. Its first line reads as
    text (an opening quote is text, as in the test above); the line that continues it has too few fields: bad input."""
    edit_params(repo, prepare__on_error=on_error)
    write_table(
        repo / "src/A/qa.tsv",
        ["id", "question", "context"],
        [
            ["m1", "বাংলাদেশের রাজধানী কোনটি?", DHAKA],
            ["m2", "ঢাকা কোথায়?", "ঢাকা বাংলাদেশের\nরাজধানী।"],
            ["m3", "রবীন্দ্রনাথ কবে নোবেল পান?", TAGORE],
        ],
    )
    if on_error == "fail":
        from banglasim.cli import main

        assert main(["ingest"]) == 2
        err = capsys.readouterr().err
        assert "src/A/qa.tsv, record line 4" in err and "wrong field count" in err and "on_error" in err, err
        return
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["records_skipped"] == {"wrong_field_count": 1}
    assert sorted(e["original_id"] for e in examples) == ["m1", "m2", "m3"]
