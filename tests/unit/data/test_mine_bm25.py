"""BM25 hard negatives (mine.negatives_from: bm25): the keyword engine's top passages, guarded like the base
model's (not the positive, not above the margin, not holding the answer), topped up when short."""

from __future__ import annotations

from banglasim.config.params import MineParams
from banglasim.data.negatives import bm25_candidates, keep_negatives
from banglasim.retrieval.lexical import Bm25Settings

PADMA = "পদ্মা বাংলাদেশের একটি প্রধান নদী। পদ্মা সেতু ২০২২ সালে চালু হয়।"
ROWS = [
    {"anchor": "পদ্মা সেতু কবে চালু হয়?", "positive": PADMA, "answer": "২০২২ সালে"},
    {"anchor": "যমুনা সেতু কোথায়?", "positive": "যমুনা সেতু টাঙ্গাইল ও সিরাজগঞ্জকে যুক্ত করেছে।", "answer": "টাঙ্গাইল"},
    {"anchor": "চাঁদ কী?", "positive": "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।", "answer": "উপগ্রহ"},
    {"anchor": "রসগোল্লা কী?", "positive": "রসগোল্লা একটি জনপ্রিয় মিষ্টি।", "answer": "মিষ্টি"},
    {"anchor": "সেতু কী?", "positive": "সেতু নদীর দুই পাড়কে যুক্ত করে; পদ্মা সেতু ২০২২ সালে চালু হয়।", "answer": "যুক্ত"},
]
CFG = MineParams(negatives_from="bm25", relative_margin=0.05, range_max=20, batch_size=8)


def test_bm25_negatives_share_the_questions_words_and_are_never_the_positive():
    found = bm25_candidates(ROWS, 1, CFG, Bm25Settings())
    first = found[(ROWS[0]["anchor"], ROWS[0]["positive"])]
    assert first and first[0] == ROWS[4]["positive"]  # "পদ্মা সেতু ... চালু" but not its passage
    assert all(ROWS[i]["positive"] not in found[(r["anchor"], r["positive"])] for i, r in enumerate(ROWS))


def test_a_candidate_scoring_near_the_positive_is_skipped_as_a_likely_unmarked_positive():
    twin = {"anchor": "চাঁদ কী?", "positive": "চাঁদ পৃথিবীর একমাত্র উপগ্রহ। ", "answer": None}
    found = bm25_candidates([*ROWS, twin], 1, CFG, Bm25Settings())
    assert ROWS[2]["positive"] not in found[(twin["anchor"], twin["positive"])]


def test_kept_negatives_drop_the_answer_and_are_topped_up_when_short():
    found = bm25_candidates(ROWS, 2, CFG, Bm25Settings())
    out, counts = keep_negatives(ROWS, 2, found, seed=42)
    assert all(len(r["negatives"]) == 2 for r in out)
    assert all(not r["answer"] or r["answer"] not in neg for r in out for neg in r["negatives"])
    assert counts["candidates_with_the_answer_dropped"] >= 1  # the other পদ্মা সেতু passage holds "২০২২ সালে"
    assert counts["topped_up_with_random"] >= 1  # চাঁদ and রসগোল্লা share no word with any other passage
