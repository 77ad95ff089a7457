"""Passage windows (retrieval/windows.py): cut by tokens, slices of the text, a passage scored by its best window."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from banglasim.core.errors import UserError
from banglasim.retrieval.windows import Windows, WindowSettings, best_window, cut_windows, window_length


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """One token per whitespace-separated word, [CLS] ... [SEP] around a text."""
    words = [f"w{i}" for i in range(100)] + ["query:", "passage:"]
    vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
    )
    tok.enable_truncation(16)  # windows must not be cut by the encoder's own truncation
    return tok


def text(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


def test_window_length_leaves_room_for_the_prompt_special_tokens_and_a_margin(tokenizer):
    # 16 positions - 2 special - 1 prompt token - 2 margin
    assert window_length(tokenizer, WindowSettings(None, 2), 16, "passage: ") == 11
    assert window_length(tokenizer, WindowSettings(8, 2), 16, "passage: ") == 8
    with pytest.raises(UserError, match="retrieval.window_tokens = 12 does not fit"):
        window_length(tokenizer, WindowSettings(12, 2), 16, "passage: ")


def test_a_short_passage_is_its_own_text_and_a_long_one_overlapping_slices_covering_every_token(tokenizer):
    passages = [text(5), text(30)]
    windows = cut_windows(passages, tokenizer, WindowSettings(10, 4), 16, "")
    assert windows.texts[0] == passages[0]
    assert windows.owner.tolist() == [0, 1, 1, 1, 1, 1]
    assert windows.texts[1:] == [text(10, s) for s in (0, 6, 12, 18)] + [text(10, 24)[: len(text(6, 24))]]
    covered = {w for t in windows.texts[1:] for w in t.split()}
    assert covered == set(passages[1].split())
    assert windows.starts.tolist() == [0, 1]


def test_the_overlap_is_at_most_half_a_window(tokenizer):
    windows = cut_windows([text(20)], tokenizer, WindowSettings(8, 64), 16, "")
    assert windows.texts == [text(8, 0), text(8, 4), text(8, 8), text(8, 12)]


def test_no_windows_keeps_every_passage_whole(tokenizer):
    passages = [text(5), text(30)]
    windows = cut_windows(passages, tokenizer, WindowSettings(0, 4), 16, "")
    assert windows.texts == passages and windows.owner.tolist() == [0, 1]


def test_a_passage_scores_as_its_best_window():
    windows = Windows(["a", "b1", "b2", "b3", "c"], np.array([0, 1, 1, 1, 2]), 3)
    scores = np.array([[0.1, 0.2, 0.9, 0.3, 0.5], [0.7, 0.0, 0.1, 0.0, 0.2]])
    assert best_window(scores, windows).tolist() == [[0.1, 0.9, 0.5], [0.7, 0.1, 0.2]]


def test_the_answer_window_holds_the_answer_else_the_first_window_is_used(tokenizer):
    from banglasim.retrieval.windows import answer_window, window_spans

    passage = text(30)
    (spans,) = window_spans([passage], tokenizer, WindowSettings(10, 4), 16, "")
    assert (
        answer_window(passage, spans, "w20 w21")[0] == text(10, 12)
        and answer_window(passage, spans, "w20")[1] == "answer"
    )
    assert answer_window(passage, spans, "not there") == (text(10, 0), "first")
    assert answer_window(passage, spans, None) == (text(10, 0), "first")
    (short,) = window_spans([text(5)], tokenizer, WindowSettings(10, 4), 16, "")
    assert answer_window(text(5), short, "w3") == (text(5), "whole")
