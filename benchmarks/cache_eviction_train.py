"""Benchmark: training with a frozen-prefix cache cap that evicts, against no cap (issue 19, defect 1).

Trains the same few steps twice through the train stage's own Trainer (build_trainer, install_cache,
the step-0 and periodic evaluations that run under torch.inference_mode): once with
`train.cache_max_mb` small enough to evict at every step, once with no cap. Prints, per run, the
cache's counters and the per-step and final losses; the two should agree (the cap only decides what is
recomputed). Before the fix the capped run crashed at its first step after the step-0 evaluation.

    python benchmarks/cache_eviction_train.py [--model models/base] [--data data] [--rows 64] [--cap-mb 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def train_once(args: argparse.Namespace, cap_mb: int) -> dict:
    import torch

    from banglasim.config.params import load_params
    from banglasim.core import atomic
    from banglasim.models.loading import quiet_library_bars
    from banglasim.training.callbacks import EvalSchedule
    from banglasim.training.progress import LossMeter
    from banglasim.training.train import build_trainer, install_cache, training_arguments

    quiet_library_bars()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    params = load_params(args.params, ("model", "train"))
    params = dataclasses.replace(
        params,
        model=dataclasses.replace(params.model, max_seq_length=args.max_seq_length),
        train=dataclasses.replace(
            params.train,
            cache_max_mb=cap_mb,
            precision="fp32",
            batch_size=args.batch_size,
            evals_per_epoch=2,
            hard_negatives=0,
        ),
    )
    rows = atomic.read_jsonl(Path(args.data) / "mined/train.jsonl")[: args.rows]
    validation = atomic.read_jsonl(Path(args.data) / "splits/validation.jsonl")[: args.rows]
    with tempfile.TemporaryDirectory() as run_dir:
        targs = training_arguments(params.train, Path(run_dir), "fp32")
        meter = LossMeter()
        trainer, _ = build_trainer(
            params, targs, rows, validation, Path(args.model), [EvalSchedule(params.train.evals_per_epoch, save=False)]
        )
        trainer.loss_meter = meter
        cache = install_cache(trainer.model, params.train, params.model.trainable_layers, rows)
        assert cache is not None, "the cache must be installed (train.cache_frozen and a supported model)"
        t0 = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - t0
        evals = [e["eval_val_mrr_at_10"] for e in trainer.state.log_history if "eval_val_mrr_at_10" in e]
        stats, line = cache.stats(), cache.describe()
        cache.uninstall()
    return {"losses": meter.recent, "stats": stats, "describe": line, "seconds": seconds, "val_mrr": evals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/base", help="a sentence-transformers folder (the base model)")
    parser.add_argument("--data", default="data", help="folder holding mined/train.jsonl and splits/validation.jsonl")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--rows", type=int, default=64, help="training pairs (and validation rows) used")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--cap-mb", type=int, default=1, help="train.cache_max_mb of the capped run")
    args = parser.parse_args()
    print(
        f"model {args.model}, {args.rows} pairs, batch {args.batch_size}, max_seq_length {args.max_seq_length}, "
        f"fp32, {len(os.sched_getaffinity(0))} CPUs"
    )
    runs = {}
    for label, cap in (("capped", args.cap_mb), ("uncapped", 0)):
        runs[label] = res = train_once(args, cap)
        print(
            f"[{label}] cap {cap or 'none'} MB: {res['describe']}; {len(res['losses'])} steps in {res['seconds']:.0f} s"
        )
        print(
            f"  losses {', '.join(f'{x:.5f}' for x in res['losses'])}; val MRR@10 "
            f"{', '.join(f'{x:.4f}' for x in res['val_mrr'])}"
        )
    capped, uncapped = runs["capped"], runs["uncapped"]
    worst = max(abs(a - b) for a, b in zip(capped["losses"], uncapped["losses"]))
    print(
        f"final loss: capped {capped['losses'][-1]:.6f} (evictions {capped['stats']['evictions']:,}) vs "
        f"uncapped {uncapped['losses'][-1]:.6f}; largest per-step difference {worst:.2e}"
    )


if __name__ == "__main__":
    main()
