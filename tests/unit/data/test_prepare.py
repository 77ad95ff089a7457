"""prepare: Unicode/whitespace normalisation, duplicate pairs, passages merged across files and sources, counts."""

from __future__ import annotations

import unicodedata

import pytest
from file_writers import write_json, write_jsonl, write_table

from data_helpers import PASSAGES, metrics, nfc, prepare_main, prepared, qa, sample_squad, squad, write_params

DHAKA, TAGORE, SUNDARBAN, COX = (p[0] for p in PASSAGES)
COUNT_KEYS = (
    "files_read",
    "files_skipped",
    "passages",
    "questions",
    "duplicates_dropped",
    "passages_merged",
    "answers_not_found",
    "no_answer",
    "records_skipped",
)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """Repository root (cwd) with two sources, src/D2 and src/D3 (labels 'D2' and 'D3')."""
    monkeypatch.chdir(tmp_path)
    for label in ("D2", "D3"):
        (tmp_path / "src" / label).mkdir(parents=True)
    write_params(tmp_path, ["src/D2", "src/D3"])
    return tmp_path


def prepare_ok(root):
    assert prepare_main() == 0
    examples, passages = prepared(root)
    return metrics(root), examples, passages


def test_nfc_decomposed_and_composed_passage_are_one(repo):
    composed = nfc("কোথায় কোন নদী বয়ে গেছে, সেই খোঁজ নৌকায় চড়ে।")
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed  # ো, ৌ and friends are really decomposed
    write_json(repo / "src/D2/a.json", squad([(composed, [qa("c1", "কোন নদী বয়ে গেছে?")])]))
    write_json(repo / "src/D3/b.json", squad([(decomposed, [qa("d1", unicodedata.normalize("NFD", "খোঁজ কীসে চড়ে?"))])]))
    m, examples, passages = prepare_ok(repo)
    assert len(passages) == 1
    assert passages[0]["text"] == composed
    assert m["total"]["distinct_passages"] == 1 and m["total"]["passages_merged"] == 1
    assert len({e["passage_id"] for e in examples}) == 1
    assert all(unicodedata.is_normalized("NFC", e["query"]) for e in examples)
    assert sorted(passages[0]["sources"]) == ["D2", "D3"]


def test_nfc_same_question_decomposed_is_a_duplicate(repo):
    q = "রবীন্দ্রনাথ কোন বইয়ের জন্য নোবেল পুরস্কার পান?"
    write_json(repo / "src/D2/a.json", squad([(TAGORE, [qa("x1", q), qa("x2", unicodedata.normalize("NFD", q))])]))
    write_json(repo / "src/D3/b.json", sample_squad(PASSAGES[2:3]))
    m, examples, _ = prepare_ok(repo)
    assert m["sources"]["D2"]["questions"] == 2
    assert m["sources"]["D2"]["duplicates_dropped"] == 1
    assert [e["original_id"] for e in examples if e["source"] == "D2"] == ["x1"]


def test_whitespace_folded(repo):
    messy = "  ঢাকা\tবাংলাদেশের   রাজধানী\n\nএবং সবচেয়ে\u00a0বড় শহর।\r\n শহরটি বুড়িগঙ্গা নদীর তীরে অবস্থিত।  "
    write_jsonl(repo / "src/D2/a.jsonl", [{"id": "w1", "question": " বাংলাদেশের \n রাজধানী\tকোনটি? ", "context": messy}])
    write_json(repo / "src/D3/b.json", sample_squad(PASSAGES[:1]))
    m, examples, passages = prepare_ok(repo)
    assert len(passages) == 1 and passages[0]["text"] == nfc(DHAKA)
    assert "  " not in passages[0]["text"] and "\n" not in passages[0]["text"]
    w1 = next(e for e in examples if e["original_id"] == "w1")
    assert w1["query"] == "বাংলাদেশের রাজধানী কোনটি?"
    # the folded question equals D3's question on the same passage: one pair, counted as a duplicate
    assert m["total"]["duplicates_dropped"] == 1
    assert m["total"]["passages_merged"] == 1


def test_exact_duplicate_pairs_dropped_and_counted(repo):
    qs = [
        qa("a1", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা"),
        qa("a2", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা"),
        qa("a3", "ঢাকা কোন নদীর তীরে অবস্থিত?"),
    ]
    write_json(repo / "src/D2/a.json", squad([(DHAKA, qs)]))
    # the same pair again in another file of the same source, and in the other source
    write_jsonl(repo / "src/D2/b.jsonl", [{"id": "b1", "question": "বাংলাদেশের রাজধানী কোনটি?", "context": DHAKA}])
    write_table(
        repo / "src/D3/c.csv",
        ["id", "question", "context"],
        [["c1", "বাংলাদেশের রাজধানী কোনটি?", DHAKA], ["c2", "সুন্দরবনে কোন বাঘ বাস করে?", SUNDARBAN]],
    )
    m, examples, _ = prepare_ok(repo)
    assert m["sources"]["D2"]["questions"] == 4 and m["sources"]["D2"]["duplicates_dropped"] == 2
    assert m["sources"]["D3"]["questions"] == 2 and m["sources"]["D3"]["duplicates_dropped"] == 1
    assert m["total"]["questions"] == 6 and m["total"]["duplicates_dropped"] == 3
    assert len(examples) == m["total"]["examples"] == 3
    pairs = [(e["query"], e["passage_id"]) for e in examples]
    assert len(set(pairs)) == len(pairs)
    # a question may repeat with another passage: that is not a duplicate
    same_q = [e for e in examples if e["query"] == "বাংলাদেশের রাজধানী কোনটি?"]
    assert len(same_q) == 1 and same_q[0]["original_id"] == "a1"


def test_same_question_other_passage_not_a_duplicate(repo):
    q = "এই অনুচ্ছেদে কোন জায়গার কথা বলা হয়েছে?"
    write_json(repo / "src/D2/a.json", squad([(DHAKA, [qa("1", q)]), (COX, [qa("2", q)])]))
    write_json(repo / "src/D3/b.json", squad([(SUNDARBAN, [qa("3", q)])]))
    m, examples, _ = prepare_ok(repo)
    assert m["total"]["duplicates_dropped"] == 0 and len(examples) == 3


def test_identical_passages_across_sources_merged(repo):
    write_json(repo / "src/D2/a.json", sample_squad(PASSAGES[:2], prefix="d2-"))
    # D3 repeats the Tagore passage (whitespace differs) with its own question, plus one of its own
    write_json(
        repo / "src/D3/x/b.json",
        squad(
            [
                (TAGORE.replace(" ", "  "), [qa("d3-1", "রবীন্দ্রনাথ কোন বিষয়ে নোবেল পান?", "সাহিত্যে")]),
                (COX, [qa("d3-2", "কক্সবাজার সৈকত কত কিলোমিটার লম্বা?")]),
            ]
        ),
    )
    m, examples, passages = prepare_ok(repo)
    assert m["sources"]["D2"]["passages"] == 2 and m["sources"]["D3"]["passages"] == 2
    assert m["sources"]["D3"]["passages_merged"] == 1 and m["total"]["passages_merged"] == 1
    assert m["total"]["passages"] == 4 and m["total"]["distinct_passages"] == 3
    assert len(passages) == 3
    tagore = next(p for p in passages if p["text"] == nfc(TAGORE))
    assert tagore["sources"] == ["D2", "D3"]
    assert sorted(tagore["files"]) == ["src/D2/a.json", "src/D3/x/b.json"]
    on_tagore = {e["original_id"]: e for e in examples if e["passage_id"] == tagore["passage_id"]}
    assert set(on_tagore) == {"d2-tagore-1", "d2-tagore-2", "d3-1"}
    assert on_tagore["d3-1"]["source"] == "D3" and on_tagore["d3-1"]["file"] == "src/D3/x/b.json"
    assert on_tagore["d2-tagore-1"]["source"] == "D2" and on_tagore["d2-tagore-1"]["file"] == "src/D2/a.json"
    others = [p for p in passages if p is not tagore]
    assert all(len(p["sources"]) == 1 for p in others)


def test_identical_passages_across_files_of_one_source_merged(repo):
    write_json(repo / "src/D2/a.json", sample_squad(PASSAGES[:1]))
    write_jsonl(repo / "src/D2/b.jsonl", [{"id": "j1", "question": "ঢাকা কোন দেশের রাজধানী?", "context": DHAKA}])
    write_json(repo / "src/D3/c.json", sample_squad(PASSAGES[1:2]))
    m, examples, passages = prepare_ok(repo)
    assert m["sources"]["D2"]["passages"] == 2 and m["sources"]["D2"]["passages_merged"] == 1
    dhaka = next(p for p in passages if p["text"] == nfc(DHAKA))
    assert dhaka["sources"] == ["D2"] and sorted(dhaka["files"]) == ["src/D2/a.json", "src/D2/b.jsonl"]


def test_examples_keep_source_file_and_original_id(repo):
    write_json(repo / "src/D2/sub/qa.json", sample_squad(PASSAGES[:2]))
    write_table(repo / "src/D3/qa.tsv", ["id", "question", "passage"], [["tsv-7", "সুন্দরবনে কোন বাঘ বাস করে?", SUNDARBAN]])
    m, examples, passages = prepare_ok(repo)
    expected = {i: ("D2", "src/D2/sub/qa.json") for _, qs in PASSAGES[:2] for i, _, _ in qs}
    expected["tsv-7"] = ("D3", "src/D3/qa.tsv")
    assert {e["original_id"]: (e["source"], e["file"]) for e in examples} == expected
    pids = {p["passage_id"] for p in passages}
    assert all(e["passage_id"] in pids for e in examples)
    assert len({e["query_id"] for e in examples}) == len(examples)


def test_counts_per_source_and_total(repo):
    # D2: SQuAD file, 2 passages, 4 questions: one duplicate pair, one answer not in its passage, one without answer
    write_json(
        repo / "src/D2/qa.json",
        squad(
            [
                (
                    DHAKA,
                    [
                        qa("1", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা"),
                        qa("2", "বাংলাদেশের রাজধানী কোনটি?", "ঢাকা"),
                        qa("3", "ঢাকা কোন নদীর তীরে অবস্থিত?", "পদ্মা"),
                    ],
                ),
                (TAGORE, [qa("4", "রবীন্দ্রনাথ কবে নোবেল পান?")]),
            ]
        ),
    )
    (repo / "src/D2/readme.txt").write_text("তথ্য", encoding="utf-8")
    # D3: JSONL with 3 questions on 2 passages, one of them D2's Dhaka passage (merged)
    write_jsonl(
        repo / "src/D3/qa.jsonl",
        [
            {"id": "5", "question": "শহরটি কোন নদীর তীরে?", "context": DHAKA, "answer": "বুড়িগঙ্গা"},
            {"id": "6", "question": "সুন্দরবনে কোন বাঘ বাস করে?", "context": SUNDARBAN, "answer": "রয়েল বেঙ্গল টাইগার"},
            {"id": "7", "question": "সুন্দরবন কী ধরনের বন?", "context": SUNDARBAN, "answer": "ম্যানগ্রোভ"},
        ],
    )
    write_table(
        repo / "src/D3/more.csv", ["question", "context", "answer"], [["কক্সবাজার সৈকত কত লম্বা?", COX, "১২০ কিলোমিটার"]]
    )
    m, examples, _ = prepare_ok(repo)
    d2, d3, total = m["sources"]["D2"], m["sources"]["D3"], m["total"]
    assert set(m["sources"]) == {"D2", "D3"}
    assert {k: d2[k] for k in COUNT_KEYS} == dict(
        files_read=1,
        files_skipped=1,
        passages=2,
        questions=4,
        duplicates_dropped=1,
        passages_merged=0,
        answers_not_found=1,
        no_answer=1,
        records_skipped={},
    )
    assert {k: d3[k] for k in COUNT_KEYS} == dict(
        files_read=2,
        files_skipped=0,
        passages=3,
        questions=4,
        duplicates_dropped=0,
        passages_merged=1,
        answers_not_found=0,
        no_answer=0,
        records_skipped={},
    )
    for k in COUNT_KEYS:
        if k != "records_skipped":
            assert total[k] == d2[k] + d3[k], k
    assert total["records_skipped"] == {}
    assert total["distinct_passages"] == 4
    assert total["examples"] == len(examples) == 7
    assert m["skipped_files"] == ["D2/readme.txt"]


def test_num_samples_caps_examples(repo):
    write_json(repo / "src/D2/a.json", sample_squad(PASSAGES[:2]))
    write_json(repo / "src/D3/b.json", sample_squad(PASSAGES[2:]))
    write_params(repo, ["src/D2", "src/D3"], prepare__num_samples=3)
    m, examples, passages = prepare_ok(repo)
    assert len(examples) == 3 == m["total"]["examples"]
    assert m["total"]["questions"] == 8  # the counts still describe all the input
    assert {e["passage_id"] for e in examples} <= {p["passage_id"] for p in passages}


def test_prepare_deterministic(repo):
    write_json(repo / "src/D2/a.json", sample_squad(PASSAGES[:3]))
    write_json(repo / "src/D3/b.json", sample_squad(PASSAGES[3:]))
    assert prepare_main() == 0
    first = [(repo / "data/prepared" / f).read_bytes() for f in ("examples.jsonl", "passages.jsonl")]
    assert prepare_main() == 0
    second = [(repo / "data/prepared" / f).read_bytes() for f in ("examples.jsonl", "passages.jsonl")]
    assert first == second
