"""Vocabulary pruning: keep the pieces a Bengali/Latin corpus can ever produce, remap ids, rebuild tokenizer.json.

A piece is kept when every character of it (after the WordPiece continuing prefix, for WordPiece) is in
the kept set: the Bengali block (U+0980-U+09FF), ASCII, the characters of the corpus texts, and the same
characters as the tokenizer's normaliser and pre-tokeniser turn them into (e.g. U+2581 for spaces).
Special and added tokens are always kept. The pieces keep their order (so their ids stay increasing),
their scores and the normaliser, pre-tokeniser, post-processor and decoder; special ids are remapped.

Why the segmentation cannot change: for a text made of kept characters, every piece that matches part of
any of its words is made of kept characters, so it is kept; the Unigram lattice (or WordPiece's greedy
longest match) sees exactly the same candidates with the same scores. The Unigram model scores an unknown
character at (lowest piece score - 10), so the lowest-scoring piece is kept too, to keep that score.
Any other character (Chinese, Cyrillic, emoji, ...) becomes `<unk>` in the pruned tokenizer.
BPE tokenizers are not pruned (their merges would need rebuilding): use `export.vocab: full`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

BENGALI_BLOCK = (0x0980, 0x09FF)
SUPPORTED_MODELS = ("Unigram", "WordPiece")


class PruneError(ValueError):
    """The tokenizer cannot be pruned (a model type other than Unigram or WordPiece)."""


@dataclass(frozen=True)
class PrunedVocab:
    """The pruned tokenizer (tokenizer.json text) and, for each new id, the old id whose embedding row it takes."""

    tokenizer_json: str
    kept_ids: list[int]
    pieces_total: int

    @property
    def pieces_kept(self) -> int:
        return len(self.kept_ids)


def base_chars() -> set[str]:
    """ASCII and the Bengali Unicode block."""
    lo, hi = BENGALI_BLOCK
    return {chr(c) for c in range(0x80)} | {chr(c) for c in range(lo, hi + 1)}


def json_strings(obj, out: list[str]) -> None:
    """Append every string inside a JSON value (dict values and list items, recursively) to `out`."""
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            json_strings(value, out)
    elif isinstance(obj, list):
        for value in obj:
            json_strings(value, out)


def corpus_texts(paths: Iterable[Path]) -> list[str]:
    """Every distinct string value of the records of JSON Lines files (passages, questions, titles, ids)."""
    texts: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    json_strings(json.loads(line), texts)
    return list(dict.fromkeys(texts))


def _seen_chars(tokenizer: Tokenizer, text: str) -> set[str]:
    """The characters of a text, of its normalised form, and of the words the pre-tokeniser makes of it."""
    chars = set(text)
    normalised = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
    chars |= set(normalised)
    if tokenizer.pre_tokenizer is not None:
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalised):
            chars |= set(word)
    return chars


def kept_chars(tokenizer: Tokenizer, texts: Iterable[str], include_base: bool = True) -> set[str]:
    """The characters whose pieces are kept: ASCII, Bengali and the texts', as the tokenizer sees them too."""
    chars: set[str] = set()
    for ch in (base_chars() if include_base else set()) | {" "}:
        chars |= _seen_chars(tokenizer, ch) | _seen_chars(tokenizer, f"a{ch}a")
    for text in texts:
        chars |= _seen_chars(tokenizer, text)
    return chars


def _remap_processor(proc: dict | None, new_id: dict[int, int]) -> None:
    """Remap the special-token ids a post-processor holds (Template, Roberta/Bert, Sequence), in place."""
    if not proc:
        return
    for sub in proc.get("processors", []):
        _remap_processor(sub, new_id)
    for spec in proc.get("special_tokens", {}).values():
        spec["ids"] = [new_id[i] for i in spec["ids"]]
    for key in ("sep", "cls"):
        if isinstance(proc.get(key), list):
            proc[key] = [proc[key][0], new_id[proc[key][1]]]


def _piece_ok(piece: str, chars: set[str], prefix: str) -> bool:
    if prefix and piece.startswith(prefix) and len(piece) > len(prefix):
        piece = piece[len(prefix) :]
    return all(ch in chars for ch in piece)


def prune(tokenizer: Tokenizer, chars: set[str]) -> PrunedVocab:
    """Keep the special/added tokens and the pieces made only of `chars`; return the rebuilt tokenizer.json."""
    data = json.loads(tokenizer.to_str())
    model = data["model"]
    kind = model.get("type")
    if kind not in SUPPORTED_MODELS:
        raise PruneError(f"cannot prune a {kind} tokenizer (only {' and '.join(SUPPORTED_MODELS)})")
    added = {tok["id"] for tok in data.get("added_tokens", [])}
    if kind == "Unigram":
        pieces = [p for p, _ in model["vocab"]]
        scores = [s for _, s in model["vocab"]]
        keep = {i for i, p in enumerate(pieces) if i in added or _piece_ok(p, chars, "")}
        if model.get("unk_id") is not None:
            keep.add(model["unk_id"])
        keep.add(min(range(len(scores)), key=scores.__getitem__))  # keeps the unknown-character score
    else:
        by_id = {i: p for p, i in model["vocab"].items()}
        pieces = [by_id[i] for i in range(len(by_id))]
        prefix = model.get("continuing_subword_prefix") or ""
        keep = {
            i for i, p in enumerate(pieces) if i in added or p == model.get("unk_token") or _piece_ok(p, chars, prefix)
        }
    kept_ids = sorted(keep)
    new_id = {old: new for new, old in enumerate(kept_ids)}
    if kind == "Unigram":
        model["vocab"] = [model["vocab"][i] for i in kept_ids]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    else:
        model["vocab"] = {pieces[i]: new_id[i] for i in kept_ids}
    for tok in data.get("added_tokens", []):
        tok["id"] = new_id[tok["id"]]
    _remap_processor(data.get("post_processor"), new_id)
    if data.get("padding"):
        data["padding"]["pad_id"] = new_id[data["padding"]["pad_id"]]
    text = json.dumps(data, ensure_ascii=False)
    Tokenizer.from_str(text)  # it must load back
    return PrunedVocab(tokenizer_json=text, kept_ids=kept_ids, pieces_total=len(pieces))


def full(tokenizer: Tokenizer) -> PrunedVocab:
    """No pruning: every piece kept (export.vocab: full)."""
    return PrunedVocab(
        tokenizer_json=tokenizer.to_str(),
        kept_ids=list(range(tokenizer.get_vocab_size())),
        pieces_total=tokenizer.get_vocab_size(),
    )
