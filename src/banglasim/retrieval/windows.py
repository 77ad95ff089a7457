"""Passage windows: a long passage is cut into overlapping token windows, each embedded, and a passage scores
as its best window, so the dense side reads every word of a passage as BM25 does.

A window is a slice of the passage's own text at token boundaries (the tokenizer's offsets), so any encoder
(Sentence Transformers or the ONNX export) embeds it unchanged, with its prompt; a passage that fits in one
window is its own text. `retrieval.window_tokens` passage tokens per window (null: what
`model.max_seq_length` leaves after the prompt and the special tokens; 0: no windows, today's truncation),
`retrieval.window_overlap` tokens shared by neighbouring windows (at most half a window). Windows of one passage
are consecutive rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from banglasim.core.errors import UserError

MARGIN = 2  # a window's text re-tokenized with its prompt can take a piece or two more than its slice did


@dataclass(frozen=True)
class WindowSettings:
    tokens: int | None = None  # passage tokens per window; None: all that max_seq_length leaves; 0: no windows
    overlap: int = 64

    @property
    def enabled(self) -> bool:
        return self.tokens != 0


@dataclass
class Windows:
    """The window texts of a list of passages: `texts[w]` belongs to passage `owner[w]` (non-decreasing)."""

    texts: list[str]
    owner: np.ndarray  # int64 [windows]
    passages: int

    @property
    def starts(self) -> np.ndarray:
        """The first window of each passage (every passage has at least one)."""
        return np.searchsorted(self.owner, np.arange(self.passages))

    @classmethod
    def whole(cls, texts: list[str]) -> Windows:
        """One window per passage: the text itself (truncated by the encoder, as without windows)."""
        return cls(list(texts), np.arange(len(texts), dtype=np.int64), len(texts))


def _plain(tokenizer):
    """A copy of a `tokenizers.Tokenizer` that neither truncates nor pads."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.to_str())
    plain.no_truncation()
    plain.no_padding()
    return plain


def window_length(tokenizer, settings: WindowSettings, max_seq_length: int, prompt: str) -> int:
    """Passage tokens per window: what max_seq_length leaves after the prompt and the special tokens (or the
    setting, which must fit in that)."""
    plain = _plain(tokenizer)
    specials = len(plain.encode("a").ids) - len(plain.encode("a", add_special_tokens=False).ids)
    room = (
        max_seq_length - MARGIN - specials - (len(plain.encode(prompt, add_special_tokens=False).ids) if prompt else 0)
    )
    if settings.tokens is None:
        length = room
    elif settings.tokens > room:
        raise UserError(
            f"retrieval.window_tokens = {settings.tokens} does not fit model.max_seq_length = {max_seq_length} "
            f"(the prompt, special tokens and a margin of {MARGIN} take {max_seq_length - room})",
            fix=f"set retrieval.window_tokens to at most {room}, or null for that",
        )
    else:
        length = settings.tokens
    return length


def window_step(length: int, overlap: int) -> int:
    """Tokens from one window's start to the next: the overlap is at most half a window (short models)."""
    return length - min(overlap, length // 2)


def window_spans(
    texts: list[str], tokenizer, settings: WindowSettings, max_seq_length: int, prompt: str
) -> list[list[tuple[int, int]]]:
    """The character spans (start, end) of each text's windows: one span, the whole text, when it fits."""
    if not settings.enabled:
        return [[(0, len(text))] for text in texts]
    length = window_length(tokenizer, settings, max_seq_length, prompt)
    step = window_step(length, settings.overlap)
    encodings = _plain(tokenizer).encode_batch(list(texts), add_special_tokens=False)
    return [offset_spans(text, enc.offsets, length, step) for text, enc in zip(texts, encodings)]


def offset_spans(text: str, offsets: list[tuple[int, int]], length: int, step: int) -> list[tuple[int, int]]:
    """The character spans of a text's windows of `length` pieces every `step` pieces (piece offsets)."""
    if len(offsets) <= length:
        return [(0, len(text))]
    spans, start = [], 0
    while True:
        end = min(start + length, len(offsets))
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end == len(offsets):
            return spans
        start += step


def cut_windows(texts: list[str], tokenizer, settings: WindowSettings, max_seq_length: int, prompt: str) -> Windows:
    """The windows of each text; `tokenizer` is a `tokenizers.Tokenizer` (the export's, or a model's backend)."""
    if not settings.enabled:
        return Windows.whole(texts)
    out, owner = [], []
    for row, (text, spans) in enumerate(zip(texts, window_spans(texts, tokenizer, settings, max_seq_length, prompt))):
        out += [text[a:b] for a, b in spans]
        owner += [row] * len(spans)
    return Windows(out, np.asarray(owner, dtype=np.int64), len(texts))


def answer_window(text: str, spans: list[tuple[int, int]], answer: str | None) -> tuple[str, str]:
    """The window of a passage that holds its answer (the first occurrence of the answer text, whole if it fits
    in a window, else its start) and which rule chose it: "whole", "answer" or "first" (no answer found)."""
    if len(spans) == 1:
        return text[spans[0][0] : spans[0][1]], "whole"
    at = text.find(answer) if answer else -1
    if at < 0:
        return text[spans[0][0] : spans[0][1]], "first"
    end = at + len(answer)
    span = next(((a, b) for a, b in spans if a <= at and end <= b), None)
    span = span or next(((a, b) for a, b in spans if a <= at < b), spans[0])
    return text[span[0] : span[1]], "answer"


def model_tokenizer(model) -> tuple:
    """(`tokenizers.Tokenizer`, max_seq_length) of a Sentence Transformers model (windows need a fast tokenizer),
    or of anything with a `window_tokenizer()` method (the export)."""
    if hasattr(model, "window_tokenizer"):
        return model.window_tokenizer()
    backend = getattr(getattr(model, "tokenizer", None), "backend_tokenizer", None)
    if backend is None:
        raise UserError(
            "passage windows need a model with a fast (tokenizers) tokenizer; this one has none",
            fix="set retrieval.window_tokens: 0 (no windows: passages truncated at model.max_seq_length)",
        )
    return backend, model.max_seq_length


def best_window(window_scores: np.ndarray, windows: Windows) -> np.ndarray:
    """Passage scores [q, passages] from window scores [q, windows]: each passage's best window."""
    if len(windows.owner) == windows.passages:
        return window_scores
    return np.maximum.reduceat(window_scores, windows.starts, axis=1)
