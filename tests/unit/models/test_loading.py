"""Model loading (pooling, max_seq_length, user errors) and layer freezing."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers.sentence_transformer.modules import Pooling

from banglasim.core.errors import UserError
from banglasim.models.loading import freeze_all_but_last, load_model, transformer_layers

TEXTS = [
    "পদ্মা বাংলাদেশের প্রধান নদীগুলোর একটি",
    "পদ্মা নদী কোথায়?",
    "ঢাকা বাংলাদেশের রাজধানী এবং বৃহত্তম শহর। এটি বুড়িগঙ্গা নদীর তীরে অবস্থিত।",
    "রবীন্দ্রনাথ ঠাকুর",
    "সুন্দরবন পৃথিবীর বৃহত্তম ম্যানগ্রোভ বন, যা বাংলাদেশ ও ভারতে বিস্তৃত।",
    "কে?",
    "পদ্মা নদী কোথায়?",  # a repeat inside one call
]


@pytest.fixture
def tiny(tiny_model_dir):
    return load_model(str(tiny_model_dir))


def pooling_module(model) -> Pooling:
    return next(m for m in model if isinstance(m, Pooling))


def test_load_model_local_dir_sets_max_seq_length_and_pooling(tiny_model_dir):
    model = load_model(str(tiny_model_dir), max_seq_length=48, pooling="cls")
    assert model.max_seq_length == 48
    assert pooling_module(model).pooling_mode == "cls"
    assert model.encode(["পদ্মা নদী"]).shape == (1, 32)


def test_load_model_keeps_the_pooling_module_when_the_mode_is_unchanged(tiny_model_dir):
    plain = load_model(str(tiny_model_dir))
    same = load_model(str(tiny_model_dir), pooling="mean")
    assert type(pooling_module(same)) is type(pooling_module(plain))
    np.testing.assert_allclose(same.encode(TEXTS[:3]), plain.encode(TEXTS[:3]), atol=1e-6)
    cls = load_model(str(tiny_model_dir), pooling="cls")
    assert not np.allclose(cls.encode(TEXTS[:3]), plain.encode(TEXTS[:3]), atol=1e-3)  # the mode really changed


def test_load_model_max_seq_length_truncates_the_input(tiny_model_dir):
    long_text = " ".join(TEXTS * 4)
    for limit in (8, 20):
        model = load_model(str(tiny_model_dir), max_seq_length=limit)
        assert model.tokenize([long_text])["input_ids"].shape[1] == limit


@pytest.mark.parametrize(
    "name", ["/no/such/model/folder", "./missing-model", "a/b/c", "nobody-here/no-such-model-in-the-cache"]
)
def test_load_model_missing_folder_is_a_user_error(name):
    with pytest.raises(UserError, match="model.name"):
        load_model(name)


def test_load_model_folder_without_a_model_is_a_user_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a model\n")
    with pytest.raises(UserError, match="model.name"):
        load_model(str(tmp_path))


@pytest.mark.parametrize("n", [1, 2, 4])
def test_freeze_all_but_last_leaves_exactly_the_last_n_layers_trainable(tiny, n):
    assert freeze_all_but_last(tiny, n) == (n, 4)
    layers = transformer_layers(tiny)
    for i, layer in enumerate(layers):
        flags = {p.requires_grad for p in layer.parameters()}
        assert flags == ({True} if i >= 4 - n else {False}), f"layer {i}"
    in_layers = {id(p) for layer in layers for p in layer.parameters()}
    outside = [name for name, p in tiny.named_parameters() if id(p) not in in_layers and p.requires_grad]
    assert outside == [], "embeddings, pooler and everything outside the layer stack must be frozen"


def test_freeze_more_layers_than_the_model_has_is_a_user_error(tiny):
    with pytest.raises(UserError, match=r"model\.trainable_layers") as exc:
        freeze_all_but_last(tiny, 5)
    assert "4" in str(exc.value)  # names the model's layer count


def test_max_seq_length_above_the_models_positions_is_a_user_error(tiny_model_dir):
    """Issue 19.6: the tiny BERT has 128 positions; 256 crashed in train ("The size of tensor a (256) must match")."""
    from banglasim.models.loading import load_model

    assert load_model(str(tiny_model_dir), max_seq_length=128).max_seq_length == 128
    with pytest.raises(UserError, match=r"model\.max_seq_length = 256 .* at most 128") as exc:
        load_model(str(tiny_model_dir), max_seq_length=256)
    assert "128 or less" in exc.value.fix


def test_position_limit_allows_for_robertas_padding_offset():
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    from banglasim.models.loading import position_limit

    small = {
        "vocab_size": 50,
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 16,
    }
    assert position_limit(BertModel(BertConfig(max_position_embeddings=64, **small))) == 64
    xlmr = XLMRobertaModel(XLMRobertaConfig(max_position_embeddings=66, pad_token_id=1, **small))
    assert position_limit(xlmr) == 64  # positions 0 and 1 are the padding offset (e5-base/large, XLM-R: 514 -> 512)


def test_trainable_layers_message_states_the_real_range(tiny_model_dir):
    from banglasim.models.loading import freeze_all_but_last, load_model

    with pytest.raises(UserError, match="from 1 to 4"):
        freeze_all_but_last(load_model(str(tiny_model_dir)), 9)
