"""The real multilingual-e5-small tokenizer, pruned to the data's characters, gives the full tokenizer's pieces.

Uses models/base/tokenizer.json (the base_model stage's output) and skips without it. The texts: every
string of the embedded sample data and, where present, of ../shared/datasets (read in place).
"""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from banglasim.export import vocab

from repo_helpers import REPO_ROOT

ROOT = REPO_ROOT
TOKENIZER = ROOT / "models/base/tokenizer.json"
SHARED = [ROOT.parent / "shared/datasets", ROOT / "shared/datasets"]


def _texts() -> list[str]:
    texts: list[str] = []
    roots = [ROOT / "data/raw/sample"] + [p for p in SHARED if p.is_dir()][:1]
    for root in roots:
        for path in sorted(root.rglob("*.json")):
            vocab.json_strings(json.loads(path.read_text(encoding="utf-8")), texts)
    return list(dict.fromkeys(texts))


@pytest.mark.skipif(not TOKENIZER.exists(), reason="models/base/tokenizer.json absent (dvc repro base_model)")
def test_pruned_e5_tokenizer_identical_on_the_data():
    full = Tokenizer.from_file(str(TOKENIZER))
    if json.loads(full.to_str())["model"]["type"] != "Unigram":
        pytest.skip("models/base is not the Unigram (e5) tokenizer")
    texts = _texts()
    pruned = vocab.prune(full, vocab.kept_chars(full, texts))
    small = Tokenizer.from_str(pruned.tokenizer_json)
    assert pruned.pieces_kept < pruned.pieces_total / 2
    differ = [t for t in texts if [pruned.kept_ids[i] for i in small.encode(t).ids] != full.encode(t).ids]
    assert not differ, f"{len(differ)} of {len(texts)} texts tokenised differently, e.g. {differ[0][:80]!r}"
    unk = small.token_to_id("<unk>")
    assert small.encode("你好 мир").ids.count(unk) == 2 and unk not in small.encode("বাংলা text").ids
