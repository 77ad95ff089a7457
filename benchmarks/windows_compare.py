"""Passage windows against truncation for the dense side: whole-corpus MRR@10 of one model folder on validation
(and test with --splits validation,test), with what each costs (vectors in the index, their size, encode time).

    PYTHONPATH=src python benchmarks/windows_compare.py --repo REPO [--model models/model] \
        [--settings truncate-256,windows-256,truncate-512] [--splits validation,test]

REPO is a workspace after `dvc repro train` (data/ and models/ filled). Three ways to read a passage:
  truncate-256   today's before windows: the first model.max_seq_length (256) tokens;
  windows-256    overlapping windows of what 256 positions leave (retrieval.window_overlap 64), best window;
  truncate-512   the first 512 tokens (max_seq_length 512: a longer, slower model input).
Each is scored by the evaluate stage's own evaluator (evaluation/evaluators.py), the corpus embedded afresh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from banglasim.config.params import EvaluateParams
from banglasim.core import atomic
from banglasim.evaluation.evaluate import score_model
from banglasim.models.loading import load_model, quiet_library_bars
from banglasim.retrieval.windows import WindowSettings, cut_windows, model_tokenizer

SETTINGS = {  # name -> (max_seq_length, windows)
    "truncate-256": (256, WindowSettings(tokens=0)),
    "windows-256": (256, WindowSettings(tokens=None, overlap=64)),
    "truncate-512": (512, WindowSettings(tokens=0)),
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", default=".")
    parser.add_argument("--model", default="models/model")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    parser.add_argument("--splits", default="validation", help="comma-separated: validation, test (acceptance)")
    args = parser.parse_args()
    quiet_library_bars()
    repo = Path(args.repo)
    record = json.loads((repo / "reports/run_record.json").read_text(encoding="utf-8"))
    prompts = record["prompts"]
    corpus = [p["text"] for p in atomic.read_jsonl(repo / "data/prepared/passages.jsonl")]
    splits = args.splits.split(",")
    rows = {s: atomic.read_jsonl(repo / f"data/splits/{s}.jsonl") for s in splits}
    cfg = EvaluateParams(batch_size=64, bootstrap_samples=0, seed=42)
    print(f"{cpu_name()}, {os.cpu_count()} cores; {len(corpus)} passages; model {repo / args.model}")
    print("| reading | split | MRR@10 | R@1 | R@10 | vectors | index MiB | encode s (corpus + questions) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.settings.split(","):
        max_len, windows = SETTINGS[name]
        model = load_model(str(repo / args.model), max_seq_length=max_len)
        tokenizer, _ = model_tokenizer(model)
        count = len(cut_windows(corpus, tokenizer, windows, max_len, prompts.get("passage") or "").texts)
        memo: dict = {}
        for split in splits:
            start = time.perf_counter()
            result, _ = score_model(model, rows[split], cfg, prompts, corpus, memo, windows)
            took = time.perf_counter() - start
            m = result["metrics"]
            print(
                f"| {name} | {split} | {m['mrr_at_10']:.4f} | {m['recall_at_1']:.4f} | {m['recall_at_10']:.4f} | "
                f"{count} | {count * model.get_embedding_dimension() * 4 / 2**20:.1f} | {took:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
