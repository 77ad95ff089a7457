"""The export's model card: Hugging Face metadata, sizes, the <unk> note, the test metrics when given."""

from __future__ import annotations

from banglasim.export.card import model_card

MANIFEST = {
    "sizes": {"model.onnx": 55_000_000, "tokenizer.json": 2_900_000},
    "quantize": "int8",
    "vocab": "bengali_latin",
    "pieces_kept": 85_526,
    "pieces_total": 250_002,
    "dim": 384,
    "opset": 17,
    "max_seq_length": 256,
    "prompts": {"query": "query: ", "passage": "passage: "},
    "source_model_sha256": "a" * 64,
    "model_sha256": "b" * 64,
}
DATA = {"sources": ["D2", "D3"], "passages": 120, "examples": 600}


def test_card_metadata_and_facts():
    card = model_card(MANIFEST, "intfloat/multilingual-e5-small", DATA)
    head = card.split("---")[1]
    assert "- bn" in head and "license: mit" in head and "base_model: intfloat/multilingual-e5-small" in head
    assert "55.0 MB" in card and "85,526 of the base model's 250,002 pieces" in card and "`<unk>`" in card
    assert "`query: `" in card and "D2, D3" in card and "reports/training_report.md" in card


def test_card_shows_test_metrics_with_intervals():
    side = {"mrr_at_10": 0.8, "mrr_at_10_ci_low": 0.7, "mrr_at_10_ci_high": 0.9, "recall_at_1": 0.6}
    evaluation = {
        "test": {
            "base": side,
            "tuned": {**side, "mrr_at_10": 0.85},
            "export": {"mrr_at_10": 0.849},
            "n_queries": 50,
            "n_passages": 12,
        }
    }
    card = model_card(MANIFEST, "intfloat/multilingual-e5-small", DATA, evaluation)
    assert "| metric | base | tuned | export |" in card
    assert "| mrr_at_10 | 0.8000 [0.7000, 0.9000] | 0.8500 [0.7000, 0.9000] | 0.8490 |" in card
    assert "50 questions" in card
