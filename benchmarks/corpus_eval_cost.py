"""What whole-corpus ranking costs an evaluation: seconds to embed N real passages with the passage prompt,
with a cold and with a filled frozen-prefix cache (the train stage's evaluations after the first).

    PYTHONPATH=src python benchmarks/corpus_eval_cost.py [--model models/model] [--n 200] [--trainable 2]

Prints passages/s and CPU seconds per passage for both (on a shared machine, CPU s / threads is what the
wall time would be alone); multiply by the corpus size (e.g. ~1,000 passages on the 2,000-pair subset,
1,304 on the full data) to size an evaluation. Needs an e5-small-sized model folder and the real dataset.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from banglasim.models.loading import freeze_all_but_last, load_model
from banglasim.training.frozen_cache import FrozenPrefixCache


def passages(root: Path, n: int) -> list[str]:
    texts: list[str] = []
    for path in sorted(root.rglob("qa.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            texts += [p["context"] for p in article["paragraphs"]]
    return list(dict.fromkeys(texts))[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/model")
    ap.add_argument("--data", default="../shared/datasets/bangla-factoid-qa")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--trainable", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    model = load_model(args.model, max_seq_length=256)
    freeze_all_but_last(model, args.trainable)
    model.eval()
    texts = passages(Path(args.data), args.n)
    prompt = (model.prompts or {}).get("passage", "")
    cache = FrozenPrefixCache(model[0].auto_model, args.trainable)
    cache.install()
    for label in ("cold (full forward)", f"cached (last {args.trainable} layers)"):
        start, cpu = time.perf_counter(), time.process_time()
        model.encode(texts, prompt=prompt, batch_size=args.batch_size, convert_to_numpy=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"{len(texts)} passages, {label}: {seconds:.1f} s wall ({len(texts) / seconds:.1f} passages/s), "
            f"{cpu:.1f} s CPU over {torch.get_num_threads()} threads ({cpu / len(texts):.3f} CPU s/passage)"
        )
    cache.uninstall()


if __name__ == "__main__":
    main()
