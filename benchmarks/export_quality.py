"""Benchmark: MRR@10 of ONNX exports of a model against the model itself (fp32 Sentence Transformers), one split.

Builds, from a Sentence Transformers folder, the export of each quantisation scheme (pruned vocabulary
from the prepared corpus), ranks the split's questions against all its passages with each (the
evaluate stage's per-split ranking, pessimistic ties) and prints MRR@10, the change against the
model with a paired 95% bootstrap interval, the lowest cosine between a question's embeddings, the
model file's size, the split's encoding time and, single-threaded (`--threads`), the median latency of
one question alone and passages per second. Schemes: `int8` (the export stage's: block-wise 8-bit
MatMulNBits weights + int8 embedding table), `fp32`, and `dynamic` (onnxruntime's quantize_dynamic of
MatMul and Gather, per-channel weights: the first prototype's scheme, for comparison).

    python benchmarks/export_quality.py --model models/model --workdir . [--split test] [--schemes int8,fp32,dynamic]

`--workdir` is a pipeline folder with data/prepared/ and data/splits/ (e.g. a `dvc repro split` of the
real data); nothing is written there: the exports go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from banglasim.evaluation.metrics import pessimistic_ranks, reciprocal_ranks, retrieval_metrics  # noqa: E402
from banglasim.export import build, graph, vocab  # noqa: E402
from banglasim.export.runtime import OnnxEncoder  # noqa: E402
from banglasim.models.loading import load_model, resolve_prompts  # noqa: E402


def quantize_dynamic(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(
        str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul", "Gather"]
    )


def paired_interval(diff: np.ndarray, samples: int = 1000, seed: int = 42) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(samples)]
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def latency(encoder: OnnxEncoder, questions: list[str], passages: list[str]) -> tuple[float, float]:
    """Median ms of one question encoded alone; passages per second in batches of 8 (best of 3)."""
    encoder.encode(questions[:2], "query")  # warm-up
    times = []
    for question in questions:
        start = time.perf_counter()
        encoder.encode([question], "query")
        times.append(time.perf_counter() - start)
    best = min(_timed(lambda: encoder.encode(passages, "passage", batch_size=8)) for _ in range(3))
    return 1000 * float(np.median(times)), len(passages) / best


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a Sentence Transformers folder (models/model, models/base)")
    ap.add_argument("--workdir", default=".", help="folder with data/prepared and data/splits")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--schemes", default="int8,fp32,dynamic")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the latency columns")
    args = ap.parse_args()
    work = Path(args.workdir)
    rows = [json.loads(line) for line in open(work / f"data/splits/{args.split}.jsonl", encoding="utf-8")]
    positives = [r for r in rows if r["score"] >= 0.5]
    queries = [r["query"] for r in positives]
    corpus = list(dict.fromkeys(r["passage"] for r in positives))
    where = {text: i for i, text in enumerate(corpus)}
    target = np.array([where[r["passage"]] for r in positives])
    texts = vocab.corpus_texts([work / "data/prepared/passages.jsonl", work / "data/prepared/examples.jsonl"])

    model = load_model(args.model, args.max_seq_length)
    prompts = resolve_prompts(model, None, None)
    start = time.perf_counter()
    ref_q = model.encode(queries, prompt=prompts["query"], normalize_embeddings=True, batch_size=32)
    ref_p = model.encode(corpus, prompt=prompts["passage"], normalize_embeddings=True, batch_size=32)
    ref_ranks = pessimistic_ranks(ref_q @ ref_p.T, target)
    print(f"{args.split}: {len(queries)} questions, {len(corpus)} passages; model {args.model}")
    print(
        f"{'scheme':<10} {'MRR@10':>7} {'change [95% paired]':>28} {'min cos':>8} {'model.onnx':>11} {'encode s':>9} "
        f"{'ms/question':>12} {'passages/s':>11}"
    )
    print(
        f"{'model':<10} {retrieval_metrics(ref_ranks)['mrr_at_10']:7.4f} {'':>28} {'':>8} {'':>11} "
        f"{time.perf_counter() - start:9.1f}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="export_quality-"))
    try:
        fp32 = tmp / "fp32"
        build.build(
            load_model(args.model, args.max_seq_length),
            fp32,
            texts,
            build.ExportOptions(quantize="fp32"),
            prompts,
            "benchmark",
        )
        for scheme in args.schemes.split(","):
            out = tmp / scheme
            if scheme != "fp32":
                shutil.copytree(fp32, out, ignore=shutil.ignore_patterns("model.onnx"))
                (graph.quantize_int8 if scheme == "int8" else quantize_dynamic)(fp32 / "model.onnx", out / "model.onnx")
            encoder = OnnxEncoder(out)
            start = time.perf_counter()
            q, p = encoder.encode(queries, "query"), encoder.encode(corpus, "passage")
            seconds = time.perf_counter() - start
            ranks = pessimistic_ranks(q @ p.T, target)
            diff = reciprocal_ranks(ranks) - reciprocal_ranks(ref_ranks)
            low, high = paired_interval(diff)
            change = f"{diff.mean():+.4f} [{low:+.4f}, {high:+.4f}]"
            ms, per_second = latency(OnnxEncoder(out, threads=args.threads), queries[:50], corpus[:24])
            print(
                f"{scheme:<10} {retrieval_metrics(ranks)['mrr_at_10']:7.4f} {change:>28} "
                f"{float((q * ref_q).sum(axis=1).min()):8.4f} {(out / 'model.onnx').stat().st_size / 1e6:9.1f}MB "
                f"{seconds:9.1f} {ms:12.1f} {per_second:11.1f}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
