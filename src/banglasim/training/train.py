"""Stage `train`: fine-tune models/base with MultipleNegativesRankingLoss through the sentence-transformers Trainer.

Evaluates the untouched model at step 0 and after every 1/evals_per_epoch of an epoch, never twice
at one step (val_mrr_at_10: validation questions ranked against every passage of the prepared corpus);
logs eval_score, avg_cosine, val_mrr_at_10 and train_loss to DVCLive at those steps, and the training
loss (a mean of every few optimizer steps) and the learning rate as step series (callbacks.StepCurves);
keeps a checkpoint at each, resumes from the last one of the same params, data and code after a
crash, and publishes the `last` or `best` one, with the DVCLive files and the metrics, as one unit
(publish.py). run() reads top to bottom: the numbered steps of train_and_publish.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import torch
import transformers
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from transformers import PrinterCallback

from banglasim.config.params import Params, TrainParams, load_params
from banglasim.config.paths import (
    BASE_MODEL_DIR,
    CHECKPOINT_ROOT,
    MINED_TRAIN_FILE,
    MODEL_DIR,
    PASSAGES_FILE,
    VALIDATION_FILE,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError, require_inputs
from banglasim.evaluation.evaluators import PairSimilarityEvaluator
from banglasim.models.loading import freeze_all_but_last, load_model, quiet_library_bars, resolve_prompts
from banglasim.retrieval.settings import window_settings
from banglasim.retrieval.windows import WindowSettings
from banglasim.runs import publish
from banglasim.runs.checkpoints import (
    CheckpointingTrainer,
    CheckpointMarker,
    remove_other_runs,
    resume_point,
    run_key,
    select_step,
    train_lock,
    wall_seconds_before,
)
from banglasim.runs.run_record import build_run_record
from banglasim.training.callbacks import EvalSchedule, LiveMetrics, StepCurves
from banglasim.training.frozen_cache import FrozenPrefixCache
from banglasim.training.inputs import (
    SAMPLERS,
    answer_windows,
    column_prompts,
    in_batch_duplicates,
    make_loss,
    train_dataset,
)
from banglasim.training.precision import resolve_precision
from banglasim.training.progress import LossMeter, ProgressReporter

LAUNCHER_ENV = "BANGLASIM_TRAIN_LAUNCHER"  # set for the workers this stage starts under torchrun
INPUTS = (
    (BASE_MODEL_DIR / "modules.json", "base_model"),
    (MINED_TRAIN_FILE, "mine"),
    (VALIDATION_FILE, "split"),
    (PASSAGES_FILE, "prepare"),
)
RUN_INPUTS = [BASE_MODEL_DIR, MINED_TRAIN_FILE, VALIDATION_FILE, PASSAGES_FILE]  # a run's identity (with params, code)


def launch_distributed(params_path: str, processes: int) -> None:
    """Re-run this stage under torchrun with `processes` workers on this machine (DDP, gloo on CPU)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        "-m",
        "banglasim",
        "--params",
        params_path,
        "train",
    ]
    print(f"train: launching {processes} processes: {' '.join(cmd[1:])}", flush=True)
    code = subprocess.call(cmd, env={**os.environ, LAUNCHER_ENV: str(os.getpid())})
    if code != 0:
        raise UserError(f"distributed training exited with status {code}", fix="see the workers' output above")


def training_arguments(tp: TrainParams, run_dir: Path, precision: str) -> SentenceTransformerTrainingArguments:
    """Optimisation settings from the train params; evaluation and checkpoints are left to EvalSchedule."""
    warmup = tp.warmup_steps if tp.warmup_steps is not None else tp.warmup_ratio  # ratio if < 1
    return SentenceTransformerTrainingArguments(
        output_dir=str(run_dir),
        num_train_epochs=tp.epochs,
        per_device_train_batch_size=tp.batch_size,
        learning_rate=tp.learning_rate,
        warmup_steps=warmup,
        optim="adamw_torch",
        use_cpu=not torch.cuda.is_available(),  # also what makes accelerate see torchrun's CPU workers (gloo)
        seed=tp.seed,
        data_seed=tp.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy="no",
        logging_strategy="no",
        save_strategy="no",  # EvalSchedule: step 0 + every 1/n epoch
        eval_on_start=True,
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=False,
        batch_sampler=SAMPLERS[tp.batch_sampler],
    )


def install_cache(
    model: SentenceTransformer, tp: TrainParams, trainable_layers: int, rows: list[dict]
) -> FrozenPrefixCache | None:
    """The frozen-prefix cache (capped at train.cache_max_mb), checked against the model's own forward."""
    auto = model[0].auto_model
    if not tp.cache_frozen or not FrozenPrefixCache.supports(auto, trainable_layers):
        return None
    cache = FrozenPrefixCache(auto, trainable_layers, max_bytes=tp.cache_max_mb * 2**20 or None)
    probe = model[0].preprocess([rows[0]["positive"], rows[-1]["anchor"]])
    probe = {k: v for k, v in probe.items() if isinstance(v, torch.Tensor)}
    return cache if cache.install(probe) else None


def build_trainer(
    params: Params,
    args: SentenceTransformerTrainingArguments,
    rows: list[dict],
    validation: list[dict],
    base: Path,
    callbacks: list,
    corpus: list[str] | None = None,
    windows: WindowSettings | None = None,
) -> tuple[CheckpointingTrainer, dict[str, str]]:
    """The base model with its frozen layers and prompts, the training data, loss and evaluator (validation
    questions ranked against `corpus`, the prepared passages): a Trainer."""
    mp, tp = params.model, params.train
    transformers.set_seed(tp.seed)
    model = load_model(str(base), mp.max_seq_length, mp.pooling)
    freeze_all_but_last(model, mp.trainable_layers)
    prompts = resolve_prompts(model, mp.query_prompt, mp.passage_prompt)
    model.prompts = {**(model.prompts or {}), **prompts}  # the published model carries the prompts it was tuned with
    args.prompts = column_prompts(prompts, tp.hard_negatives)
    trainer_notes: dict = {}
    if tp.positive_window == "answer":  # a long passage's window that holds the answer, as search reads it
        rows, counts = answer_windows(rows, model, windows or WindowSettings(), prompts["passage"] or "")
        print(f"train: positives by window: {counts} (whole: fits one window; first: no answer text found)")
        trainer_notes["positive_windows"] = counts
    # the model card's example, set here so that the Trainer does not sample (and print) its own
    model.model_card_data.widget = [{"source_sentence": rows[0]["anchor"], "sentences": [rows[0]["positive"]]}]
    evaluator = PairSimilarityEvaluator.from_rows(validation, prompts=prompts, corpus=corpus, windows=windows)
    trainer = CheckpointingTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset(rows, tp.hard_negatives),
        loss=make_loss(model, tp.loss, tp.mini_batch_size),
        evaluator=evaluator,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # no raw metric dicts: ProgressReporter prints what a person reads
    trainer.notes = trainer_notes  # for the run record
    return trainer, prompts


def run(params_path: str) -> None:
    quiet_library_bars()
    loaded = load_params(params_path, ("model", "train", "retrieval"))
    windows = window_settings(loaded.retrieval)  # validation MRR@10 reads passages by window, as search does
    params = replace(loaded, retrieval=None)  # of the retrieval section, train reads (and is keyed by) windows only
    tp = params.train
    require_inputs(list(INPUTS))
    precision = resolve_precision(tp.precision)
    run_dir = CHECKPOINT_ROOT / run_key(params, RUN_INPUTS, precision, {"windows": asdict(windows)})
    worker = "WORLD_SIZE" in os.environ
    is_main = int(os.environ.get("RANK", "0")) == 0
    # 1. one trainer at a time: this process holds the lock, or the launcher that started it under torchrun does
    with train_lock() if not worker or (is_main and LAUNCHER_ENV not in os.environ) else nullcontext():
        if is_main:  # 2. finish a publish cut short, so that the outputs are all of one run
            finished = publish.roll_forward()
            if run_dir in finished and not worker:
                print(f"train: completed the interrupted publish of {run_dir}; nothing left to train")
                return
        if tp.processes > 1 and not worker:
            return launch_distributed(params_path, tp.processes)
        train_and_publish(params, run_dir, precision, is_main, windows)


def train_and_publish(
    params: Params, run_dir: Path, precision: str, is_main: bool, windows: WindowSettings | None = None
) -> None:
    mp, tp = params.model, params.train
    # 3. arguments first (they set up a distributed run's processes), then where to resume from
    args = training_arguments(tp, run_dir, precision)
    with args.main_process_first():
        resume = resume_point(run_dir, remove_finished=is_main)
    args.eval_on_start = resume is None  # a resumed run evaluated step 0 before its crash
    # 4. the base model with its frozen layers and prompts, the data and the trainer
    rows = atomic.read_jsonl(MINED_TRAIN_FILE)
    meter, metrics_cb, wall_before = LossMeter(), LiveMetrics(None), wall_seconds_before(resume)
    curves = StepCurves(meter)
    corpus = [p["text"] for p in atomic.read_jsonl(PASSAGES_FILE)]  # validation ranks against all passages
    trainer, prompts = build_trainer(
        params,
        args,
        rows,
        atomic.read_jsonl(VALIDATION_FILE),
        BASE_MODEL_DIR,
        [EvalSchedule(tp.evals_per_epoch), metrics_cb, curves, CheckpointMarker(wall_before), ProgressReporter(meter)],
        corpus,
        windows,
    )
    trainer.loss_meter, model = meter, trainer.model
    duplicates = in_batch_duplicates(trainer, [r["passage_id"] for r in rows])
    if is_main:
        print(
            "train: batches with one passage twice (MNRL would use a true positive as a negative): "
            + ", ".join(
                f"{d['batches_with_a_passage_twice']} of {d['batches']} with {name}"
                + (" (used)" if name == tp.batch_sampler else "")
                for name, d in duplicates.items()
            )
        )
    cache = install_cache(model, tp, mp.trainable_layers, rows)
    # 5. DVCLive writes into the staging folder (main process only); train
    live = None
    if is_main:
        from dvclive import Live

        shutil.rmtree(publish.staging_dir(run_dir), ignore_errors=True)
        live = Live(dir=str(publish.staging_dir(run_dir) / "dvclive"), save_dvc_exp=False, dvcyaml=None)
        metrics_cb.live = curves.live = live
        live.log_param("run", run_dir.name)  # dvclive/params.yaml: which run these series belong to
    if resume:
        print(f"train: resuming from {resume} (same params, data and code)")
    resumed_at = int(Path(resume).name.split("-")[-1]) if resume else 0
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - started
    if cache is not None:
        print(f"train: {cache.describe()}")
        cache.uninstall()
    if not is_main:
        return
    # 6. choose the step, stage every output, publish them as one unit, drop other runs' checkpoints
    publish_run(
        params,
        run_dir,
        trainer,
        metrics_cb.series,
        live,
        dict(
            run=run_dir.name,
            prompts=prompts,
            precision=precision,
            wall_seconds=round(wall_before + wall, 1),
            wall_seconds_this_part=round(
                wall, 1
            ),  # a resumed run: wall_seconds adds the parts before, to its checkpoint
            seconds_per_step=round(wall / max(1, trainer.state.global_step - resumed_at), 3),
            train_pairs=len(rows) * tp.epochs,
            resumed_from=resume,
            frozen_cache=cache.stats() if cache is not None else None,
            in_batch_duplicates=duplicates,
            positive_windows=trainer.notes.get("positive_windows"),
            peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            processes=args.world_size,
            per_device_batch_size=tp.batch_size,
            global_batch_size=tp.batch_size * args.world_size,
        ),
    )


def publish_run(
    params: Params, run_dir: Path, trainer: CheckpointingTrainer, history: list[dict], live, record: dict
) -> None:
    """Stage the chosen step's model, the DVCLive files, the train metrics and the run record; publish them."""
    tp, steps = params.train, trainer.state.global_step
    selected = select_step(history, tp.select)
    publish.stage_model(
        trainer.model, run_dir, selected, steps, params, next(r for r in history if r["step"] == selected)
    )
    live.summary["published_step"] = selected  # DVCLive's summary is of the last step; this names the published one
    live.end()
    stage = publish.staging_dir(run_dir)
    atomic.write_json(stage / "train.json", train_metrics(run_dir.name, selected, tp.select, steps, history, record))
    atomic.write_json(stage / "run_record.json", build_run_record(params, **record))
    publish.commit(run_dir)
    remove_other_runs(keep=run_dir)
    print(
        f"train: {steps} steps in {record['wall_seconds']:.1f}s"
        + (
            f" ({record['wall_seconds_this_part']:.1f}s in this part, resumed from {record['resumed_from']})"
            if record.get("resumed_from")
            else ""
        )
        + f"; published step {selected} of {steps} (train.select: {tp.select}) to {MODEL_DIR}/"
        + (
            ""
            if selected == steps
            else f"; dvclive/metrics.json shows the last step, {steps}, and names the published one as published_step"
        )
    )


def train_metrics(run: str, selected: int, select: str, steps: int, history: list[dict], record: dict) -> dict:
    """metrics/train.json: the run, its steps, validation MRR@10 (whole corpus) of the base model (step 0) and of
    the published step, and the train stage's time, so that `dvc exp show` can list a validation-only grid."""
    by_step = {row["step"]: row for row in history}
    return {
        "run": run,
        "selected_step": selected,
        "select": select,
        "total_steps": steps,
        "eval_steps": [row["step"] for row in history],
        "val_mrr_at_10_base": by_step.get(0, {}).get("val_mrr_at_10"),
        "val_mrr_at_10_selected": by_step[selected].get("val_mrr_at_10"),
        "wall_seconds": record["wall_seconds"],
        "seconds_per_step": record["seconds_per_step"],
    }
