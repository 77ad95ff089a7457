"""Benchmark: memory of the frozen-prefix cache with a cap (LRU) and without, on synthetic passages.

A random BERT of realistic width (default hidden 384, 12 layers, 2 trainable, 256-token passages:
~0.38 MiB of fp32 states per passage) and random Bengali-letter passages, all distinct. Each passage
is pushed `--repeats` times in a shuffled stream (a passage recurs once per question), through the
cache's frozen-prefix path (`FrozenPrefixCache.states`: keys, LRU store, eviction; the trainable
layers do not run). On 2 CPU cores the 10 frozen layers of 20,000 passages take far too long, so
by default they are replaced by the identity (embeddings only: same shapes, same bytes stored);
`--frozen real` runs them. Each scenario runs in a child process so each peak RSS is its own.

    python benchmarks/cache_memory.py [--passages 20000] [--cap-mb 512] [--hidden 384] [--layers 12]
    python benchmarks/cache_memory.py --uncapped-passages 2000 --frozen real
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
LETTERS = [chr(c) for c in range(0x0995, 0x09BA)]  # consonants
SIGNS = [chr(c) for c in range(0x09BE, 0x09CD)]  # vowel signs
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build(hidden: int, layers: int):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    chars = [chr(c) for c in range(0x0980, 0x0A00)]
    vocab = SPECIALS + chars + ["##" + c for c in chars]
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=False)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,  # a real vocab's size
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=4 * hidden,
        max_position_embeddings=512,
    )
    return BertModel(config).eval(), tokenizer


def passages(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = []
        while sum(map(len, words)) < 300:  # > 254 letters: every passage fills 256 tokens
            words.append(
                "".join(
                    rng.choice(LETTERS) + (rng.choice(SIGNS) if rng.random() < 0.5 else "")
                    for _ in range(rng.randint(1, 4))
                )
            )
        out.append(" ".join(words))
    return out


def child(args: argparse.Namespace) -> dict:
    """One scenario in this process: push the stream through the cache, measure store and RSS."""
    import torch

    from banglasim.training.frozen_cache import FrozenPrefixCache

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    model, tokenizer = build(args.hidden, args.layers)
    model_mib = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 2**20
    texts = passages(args.n)
    ids, mask = [], []
    for start in range(0, args.n, 1000):  # in chunks: the tokenizer's per-token objects are large
        enc = tokenizer(
            texts[start : start + 1000],
            truncation=True,
            max_length=args.tokens,
            padding="max_length",
            return_tensors="pt",
        )
        ids.append(enc["input_ids"])
        mask.append(enc["attention_mask"])
    del texts, enc
    ids, mask = torch.cat(ids), torch.cat(mask)
    assert len({row.numpy().tobytes() for row in ids}) == args.n, "passages must be distinct"
    cap = int(args.cap_mb * 2**20) if args.cap_mb else None
    cache = FrozenPrefixCache(model, args.trainable, max_bytes=cap, store_device="cpu")
    if args.frozen == "identity":

        def embeddings_only(input_ids, attention_mask, token_type_ids):
            with torch.no_grad():
                return model.embeddings(input_ids=input_ids)

        cache._prefix = embeddings_only
    order = [i for i in range(args.n) for _ in range(args.repeats)]
    random.Random(1).shuffle(order)
    rss0, t0, growth = rss_mib(), time.perf_counter(), []
    for start in range(0, len(order), args.batch):
        rows = torch.tensor(order[start : start + args.batch])
        cache.states(ids[rows], mask[rows])
        if cap is None and (start // args.batch) % max(1, len(order) // args.batch // 4) == 0:
            growth.append((cache.misses, round(cache.nbytes / 2**20), round(rss_mib())))
    seconds = time.perf_counter() - t0
    growth.append((cache.misses, round(cache.nbytes / 2**20), round(rss_mib())))
    return {
        "n": args.n,
        "pushes": len(order),
        "cap_mib": args.cap_mb,
        "store_mib": cache.nbytes / 2**20,
        "entries": len(cache.store),
        "describe": cache.describe(),
        "model_mib": model_mib,
        "rss_before_mib": rss0,
        "peak_rss_mib": peak_rss_mib(),
        "seconds": seconds,
        "growth": growth,
        "per_entry_mib": cache.nbytes / max(1, len(cache.store)) / 2**20,
        "frozen": args.frozen,
    }


def real_frozen_rate(args: argparse.Namespace) -> float:
    """Seconds per passage of the real embeddings + frozen layers (batch of 32) on this machine."""

    from banglasim.training.frozen_cache import FrozenPrefixCache

    model, tokenizer = build(args.hidden, args.layers)
    enc = tokenizer(passages(32, seed=7), truncation=True, max_length=args.tokens, return_tensors="pt", padding=True)
    cache = FrozenPrefixCache(model, args.trainable)
    t0 = time.perf_counter()
    cache.states(enc["input_ids"], enc["attention_mask"])
    return (time.perf_counter() - t0) / 32


def run_child(args: argparse.Namespace, **over) -> dict:
    argv = [sys.executable, __file__, "--child"]
    for key, value in {**vars(args), **over}.items():
        if key not in ("child", "uncapped_passages") and value is not None:
            argv += ["--passages" if key == "n" else f"--{key.replace('_', '-')}", str(value)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", dest="n", type=int, default=20_000)
    parser.add_argument("--cap-mb", type=float, default=512)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--trainable", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="times each passage comes back, shuffled")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frozen", choices=["identity", "real"], default="identity")
    parser.add_argument("--uncapped-passages", type=int, default=2_000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    t0 = time.perf_counter()
    rate = real_frozen_rate(args)
    print(
        f"model: random BERT hidden {args.hidden}, {args.layers} layers ({args.trainable} trainable), "
        f"{args.tokens}-token passages; frozen layers: {args.frozen}; {len(os.sched_getaffinity(0))} CPUs"
    )
    print(
        f"real embeddings + {args.layers - args.trainable} frozen layers here: {rate * 1000:.0f} ms/passage "
        f"({rate * args.n / 60:.0f} min for {args.n:,} passages, once each)"
    )
    for label, res in [
        ("capped", run_child(args)),
        ("uncapped", run_child(args, n=args.uncapped_passages, cap_mb=0, repeats=1)),
    ]:
        limit = (res["cap_mib"] or res["store_mib"]) + res["model_mib"] + 1024
        cap = f"{res['cap_mib']:,.0f} MiB" if res["cap_mib"] else "none"
        print(f"\n[{label}] {res['n']:,} passages, {res['pushes']:,} pushes in {res['seconds']:.0f} s; cap: {cap}")
        print(f"  {res['describe']}; {res['entries']:,} entries of {res['per_entry_mib']:.3f} MiB")
        print(
            f"  final store {res['store_mib']:,.1f} MiB; model in memory {res['model_mib']:,.0f} MiB; "
            f"RSS before the stream {res['rss_before_mib']:,.0f} MiB, peak RSS {res['peak_rss_mib']:,.0f} MiB"
        )
        what = "cap" if res["cap_mib"] else "store"
        print(f"  peak RSS < {what} + model + 1 GiB ({limit:,.0f} MiB): {res['peak_rss_mib'] < limit}")
        if not res["cap_mib"]:
            print(
                "  growth (passages stored, store MiB, RSS MiB): "
                + ", ".join(f"({m:,}, {s:,}, {r:,})" for m, s, r in res["growth"])
            )
            print(f"  -> uncapped, {args.n:,} passages would keep {res['per_entry_mib'] * args.n / 1024:,.1f} GiB")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
