"""The Bengali analyser and the BM25 index (retrieval/lexical.py)."""

from __future__ import annotations

import numpy as np

from banglasim.retrieval.lexical import Analyzer, Bm25Settings, LexicalIndex

PASSAGES = ["পদ্মা বাংলাদেশের একটি প্রধান নদী।", "ঢাকা বাংলাদেশের রাজধানী।", "চাঁদ পৃথিবীর একমাত্র উপগ্রহ।"]


def test_the_analyser_folds_digits_zero_width_marks_khanda_ta_case_and_splits_at_the_dari():
    terms = Analyzer().terms("১৯৭১ সালের যুদ্ধ।Dhaka-তে উত্\u200dস স\u200cম\u200dয় \ufeffNFC")
    assert terms == ["1971", "সালের", "যুদ্ধ", "dhaka", "তে", "উৎস", "সময়", "nfc"]
    assert Analyzer().terms("1971 সালের") == Analyzer().terms("১৯৭১ সালের")


def test_nfc_and_decomposed_spellings_give_the_same_terms():
    composed, decomposed = "\u09df", "\u09af\u09bc"  # য় written as one code point and as য + nukta
    assert Analyzer().terms(f"সম{composed}") == Analyzer().terms(f"সম{decomposed}")


def test_punctuation_emoji_and_other_scripts_give_no_term():
    assert Analyzer().terms("?!। … 😀 漢字 Ωμέγα") == []


def test_stop_words_and_stemming_are_options():
    text = "বাংলাদেশের রাজধানী কোথায় এবং ছেলেরা"
    assert Analyzer().terms(text) == ["বাংলাদেশের", "রাজধানী", "কোথায়", "এবং", "ছেলেরা"]
    assert Analyzer(stopwords=True).terms(text) == ["বাংলাদেশের", "রাজধানী", "ছেলেরা"]
    assert Analyzer(stem=True).terms("বাংলাদেশের ছেলেরা") == ["বাংলাদেশ", "ছেল"]


def test_bm25_ranks_the_passage_sharing_the_rare_word_first():
    index = LexicalIndex.build(PASSAGES, Bm25Settings())
    scores = index.scores("পদ্মা কোন দেশের নদী?")
    assert scores is not None and int(np.argmax(scores)) == 0 and scores[1] == scores[2] == 0


def test_a_question_with_no_term_in_the_passages_cannot_be_ranked():
    index = LexicalIndex.build(PASSAGES, Bm25Settings())
    assert index.scores("???") is None
    assert index.scores("xyz 😀") is None


def test_a_saved_index_loads_memory_mapped_and_scores_the_same(tmp_path):
    index = LexicalIndex.build(PASSAGES, Bm25Settings(k1=1.2, b=0.75))
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path, index.settings, mmap=True)
    assert len(loaded) == 3
    np.testing.assert_array_equal(loaded.scores("বাংলাদেশের রাজধানী"), index.scores("বাংলাদেশের রাজধানী"))


def test_settings_round_trip_through_a_manifest_dict():
    settings = Bm25Settings(0.9, 0.5, Analyzer(stopwords=True, stem=False))
    assert Bm25Settings.from_dict(settings.as_dict()) == settings
