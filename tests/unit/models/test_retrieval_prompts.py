"""Saved models give sentence-transformers' encode_query / encode_document the prompts training used."""

from __future__ import annotations

import numpy as np

from banglasim.models.loading import load_model, retrieval_prompts

TRAINED = {"query": "query: ", "passage": "passage: "}  # as the train stage resolves them for e5
TEXTS = ["পদ্মা বাংলাদেশের প্রধান নদী।", "ঢাকা বাংলাদেশের রাজধানী।"]


def test_document_carries_the_passage_prompt():
    assert retrieval_prompts({"query": "q: ", "passage": "p: ", "document": ""}) == {
        "query": "q: ",
        "passage": "p: ",
        "document": "p: ",
    }
    assert retrieval_prompts({}) == {}


def test_saved_tiny_model_retrieval_api_uses_the_trained_prompts(tiny_model_dir, tmp_path):
    model = load_model(str(tiny_model_dir))
    model.prompts = {**model.prompts, **TRAINED}  # what train.build_trainer sets; then as publish saves it
    model.prompts = retrieval_prompts(model.prompts)
    model.save(str(tmp_path / "published"))
    saved = load_model(str(tmp_path / "published"))
    trained_q = saved.encode(TEXTS, prompt=TRAINED["query"])  # how the train stage's evaluator embeds
    trained_p = saved.encode(TEXTS, prompt=TRAINED["passage"])
    assert np.allclose(saved.encode_query(TEXTS), trained_q, atol=1e-6)
    assert np.allclose(saved.encode_document(TEXTS), trained_p, atol=1e-6)
    assert not np.allclose(saved.encode(TEXTS), trained_p, atol=1e-4)  # the prompt matters for this model


def test_without_the_fix_encode_document_drops_the_passage_prompt(tiny_model_dir, tmp_path):
    model = load_model(str(tiny_model_dir))
    model.prompts = {**model.prompts, **TRAINED}
    model.save(str(tmp_path / "old"))
    old = load_model(str(tmp_path / "old"))
    assert old.prompts["document"] == ""
    assert not np.allclose(old.encode_document(TEXTS), old.encode(TEXTS, prompt=TRAINED["passage"]), atol=1e-4)
