"""Vocabulary pruning: identical pieces inside the kept characters, <unk> outside, special ids remapped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from banglasim.export import vocab

PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("a", -3.0),
    ("b", -3.0),
    ("ab", -2.5),
    ("▁ab", -2.0),
    ("ক", -3.0),
    ("া", -3.0),
    ("কা", -2.8),
    ("▁কা", -2.7),
    ("ল", -3.2),
    ("你", -4.0),
    ("你a", -1.0),
    ("▁你", -3.5),
    ("ж", -5.0),
    ("жa", -4.5),
    ("bж", -1.5),
    ("zz", -9.0),
    ("<mask>", 0.0),
]
INSIDE = ["ab a কা b", "abab কাল", "বাংলা ab", "a  b\tকা", "কাকা", "ba"]


@pytest.fixture(scope="module")
def unigram() -> Tokenizer:
    """A tiny XLM-R-like Unigram tokenizer: specials first, <mask> last, NFKC, Metaspace, `<s> $A </s>`."""
    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok.enable_padding(pad_id=1, pad_token="<pad>")
    return tok


def _pruned(tok: Tokenizer, texts: list[str]) -> tuple[vocab.PrunedVocab, Tokenizer]:
    pv = vocab.prune(tok, vocab.kept_chars(tok, texts))
    return pv, Tokenizer.from_str(pv.tokenizer_json)


def test_identical_pieces_inside_the_kept_characters(unigram):
    pv, small = _pruned(unigram, [])
    assert pv.pieces_total == len(PIECES) and pv.pieces_kept < pv.pieces_total
    for text in INSIDE:
        full, pruned = unigram.encode(text), small.encode(text)
        assert pruned.tokens == full.tokens, text
        assert [pv.kept_ids[i] for i in pruned.ids] == full.ids, text


def test_other_characters_become_unk(unigram):
    pv, small = _pruned(unigram, [])
    kept = {PIECES[i][0] for i in pv.kept_ids}
    assert not kept & {"你", "你a", "▁你", "ж", "жa", "bж"}
    assert {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "▁", "zz"} <= kept  # specials; zz has the lowest score
    assert unigram.encode("你a").tokens == ["<s>", "▁", "你a", "</s>"]
    unk = small.token_to_id("<unk>")
    assert small.encode("你a").ids == [0, small.token_to_id("▁"), unk, small.token_to_id("a"), 2]
    assert unk in small.encode("ab ж").ids


def test_corpus_characters_are_kept(unigram):
    pv, small = _pruned(unigram, ["жa ж"])
    kept = {PIECES[i][0] for i in pv.kept_ids}
    assert {"ж", "жa", "bж"} <= kept and "你" not in kept
    for text in ("bжa", "жa b"):
        assert [pv.kept_ids[i] for i in small.encode(text).ids] == unigram.encode(text).ids


def test_special_ids_remapped(unigram):
    pv, small = _pruned(unigram, [])
    data = json.loads(pv.tokenizer_json)
    assert small.token_to_id("<mask>") == pv.pieces_kept - 1
    assert {t["content"]: t["id"] for t in data["added_tokens"]}["<mask>"] == pv.pieces_kept - 1
    assert data["model"]["unk_id"] == 3 and data["padding"]["pad_id"] == 1
    assert small.encode("<mask> a").ids[1] == pv.pieces_kept - 1
    assert [t for t, _ in data["model"]["vocab"]] == [PIECES[i][0] for i in pv.kept_ids]
    assert [s for _, s in data["model"]["vocab"]] == [PIECES[i][1] for i in pv.kept_ids]


def test_wordpiece_pruned_and_bpe_refused():
    wp = Tokenizer(
        models.WordPiece(
            {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "a": 3, "##b": 4, "ж": 5, "##ж": 6, "ab": 7}, unk_token="[UNK]"
        )
    )
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    wp.post_processor = processors.BertProcessing(("[SEP]", 2), ("[CLS]", 1))
    wp.add_special_tokens(["[UNK]", "[CLS]", "[SEP]"])
    pv = vocab.prune(wp, vocab.kept_chars(wp, []))
    small = Tokenizer.from_str(pv.tokenizer_json)
    assert pv.kept_ids == [0, 1, 2, 3, 4, 7]
    assert small.encode("ab a").tokens == wp.encode("ab a").tokens
    assert small.encode("aж").tokens == ["[CLS]", "[UNK]", "[SEP]"]
    bpe = Tokenizer(models.BPE({"a": 0, "b": 1, "ab": 2}, [("a", "b")]))
    with pytest.raises(vocab.PruneError, match="BPE"):
        vocab.prune(bpe, set("ab"))


def test_corpus_texts_reads_every_string(tmp_path: Path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"passage_id": "p1", "title": "নদী", "text": "ж text", "n": 3}\n\n{"q": ["x", {"y": "z"}]}\n', encoding="utf-8"
    )
    assert vocab.corpus_texts([path]) == ["p1", "নদী", "ж text", "x", "z"]
