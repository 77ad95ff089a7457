"""Stage `train`: fine-tune with MultipleNegativesRankingLoss through the sentence-transformers Trainer.

Evaluates the untouched model at step 0 and after every 1/evals_per_epoch of an epoch, never twice
at one step; logs eval_score, avg_cosine and train_loss to DVCLive at those steps; keeps a
checkpoint at each, resumes from the last one of the same params and data after a crash, and
publishes the `last` or `best` one to models/model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
import transformers
from datasets import Dataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from banglasim import atomic, run_record
from banglasim.errors import UserError
from banglasim.evaluators import PairSimilarityEvaluator
from banglasim.frozen_cache import FrozenPrefixCache
from banglasim.model_card import append_project_section, base_model_id
from banglasim.modeling import freeze_all_but_last, load_model
from banglasim.params import load_params
from banglasim.split import SPLITS_DIR
from banglasim.train_callbacks import CheckpointMarker, EvalSchedule, LiveMetrics, completed_checkpoints

logger = logging.getLogger(__name__)
MODEL_DIR = Path("models/model")
LIVE_DIR = Path("dvclive")
CHECKPOINT_ROOT = Path(".checkpoints")
METRICS_FILE = Path("metrics/train.json")
RUN_RECORD_FILE = Path("reports/run_record.json")
FINISHED_MARKER = "FINISHED"


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX), where bf16 autocast pays."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """'auto': bf16 on CUDA where supported, else fp16; on CPU bf16 autocast where it has bf16 units, else fp32."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "bf16" if cpu_has_bf16() else "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise UserError("params.yaml: param train.precision = 'fp16' needs a CUDA GPU",
                        fix="use 'auto', 'fp32' or (on CPUs with bf16 units) 'bf16'")
    return precision


def run_key(model_params: dict, train_params: dict, data_files: list[Path]) -> str:
    """Identity of a run: params of model and train, the split files and this package's code."""
    h = hashlib.sha256(json.dumps([model_params, train_params], sort_keys=True).encode())
    for f in [*data_files, *sorted(Path(__file__).parent.glob("*.py"))]:
        h.update(f.read_bytes())
    h.update(str(os.environ.get("WORLD_SIZE", "1")).encode())
    return h.hexdigest()[:16]


def build_trainer(params: dict, train_rows: list[dict], evaluator: PairSimilarityEvaluator | None,
                  output_dir: Path, callbacks: list, eval_on_start: bool,
                  ) -> tuple[SentenceTransformerTrainer, FrozenPrefixCache | None]:
    """Model, data, loss and arguments as in the reference run, plus the frozen-prefix cache."""
    mp, tp = params["model"], params["train"]
    transformers.set_seed(tp["seed"])
    model = load_model(mp["name"], mp["max_seq_length"], mp["pooling"])
    freeze_all_but_last(model, mp["trainable_layers"])
    train_ds = Dataset.from_dict({"anchor": [r["anchor"] for r in train_rows],
                                  "positive": [r["positive"] for r in train_rows]})
    precision = resolve_precision(tp["precision"])
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=tp["epochs"],
        per_device_train_batch_size=tp["batch_size"],
        learning_rate=tp["learning_rate"],
        warmup_steps=tp["warmup_steps"],
        optim="adamw_torch",
        use_cpu=not torch.cuda.is_available(),  # also what makes accelerate see torchrun's CPU workers (gloo)
        seed=tp["seed"],
        data_seed=tp["seed"],
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy="no",  # EvalSchedule decides: step 0 plus every 1/evals_per_epoch
        logging_strategy="no",
        save_strategy="no",
        eval_on_start=eval_on_start,
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=False,
        save_only_model=False,
    )
    cache = None
    if tp["cache_frozen"] and FrozenPrefixCache.supports(model[0].auto_model, mp["trainable_layers"]):
        cache = FrozenPrefixCache(model[0].auto_model, mp["trainable_layers"])
        probe = model[0].preprocess([train_rows[0]["positive"], train_rows[-1]["anchor"]])
        probe = {k: v for k, v in probe.items() if isinstance(v, torch.Tensor)}
        if not cache.install(probe):
            cache = None
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train_ds,
        loss=MultipleNegativesRankingLoss(model), evaluator=evaluator, callbacks=callbacks,
    )
    return trainer, cache


def launch_distributed(params_path: str, processes: int) -> None:
    """Re-run this stage under torchrun with `processes` workers on this machine (DDP, gloo on CPU)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
           "-m", "banglasim", "--params", params_path, "train"]
    print(f"train: launching {processes} processes: {' '.join(cmd[1:])}", flush=True)
    code = subprocess.call(cmd)
    if code != 0:
        raise UserError(f"distributed training exited with status {code}", fix="see the workers' output above")


def run(params_path: str = "params.yaml") -> None:
    params = load_params(params_path, ("model", "train"))
    mp, tp = params["model"], params["train"]
    if tp["processes"] > 1 and "WORLD_SIZE" not in os.environ:
        return launch_distributed(params_path, tp["processes"])
    split_files = [SPLITS_DIR / "train.jsonl", SPLITS_DIR / "validation.jsonl"]
    for f in split_files:
        if not f.exists():
            raise UserError(f"{f}: not found", fix="run the split stage first (dvc repro split)")
    output_dir = CHECKPOINT_ROOT / run_key(mp, tp, split_files)
    if (output_dir / FINISHED_MARKER).exists():
        shutil.rmtree(output_dir)  # a finished run is never resumed: a rerun (e.g. dvc repro -f) trains afresh
    checkpoints = completed_checkpoints(output_dir)
    resume = str(checkpoints[-1]) if checkpoints else None
    metrics_cb = LiveMetrics(None)
    evaluator = PairSimilarityEvaluator.from_file(str(split_files[1]), batch_size=64)
    callbacks = [EvalSchedule(tp["evals_per_epoch"]), metrics_cb, CheckpointMarker()]
    trainer, cache = build_trainer(params, atomic.read_jsonl(split_files[0]), evaluator, output_dir, callbacks,
                                   eval_on_start=resume is None)
    live = None
    if trainer.is_world_process_zero():  # only now: a bad model or param must not touch dvclive/
        from dvclive import Live

        live = metrics_cb.live = Live(dir=str(LIVE_DIR), save_dvc_exp=False, dvcyaml=None)
    if resume:
        print(f"train: resuming from {resume} (same params and data)")
    started = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    wall = time.perf_counter() - started
    if cache is not None:
        print(f"train: frozen-prefix cache served {cache.hits} of {cache.hits + cache.misses} encodings "
              f"({cache.nbytes / 2**20:.0f} MiB)")
        cache.uninstall()
    if not trainer.is_world_process_zero():
        return
    history = metrics_cb.series
    selected = select_step(history, tp["select"])
    publish(trainer, output_dir, selected, params, next(r for r in history if r["step"] == selected))
    (output_dir / FINISHED_MARKER).write_text(f"published step {selected}\n")
    for other in CHECKPOINT_ROOT.iterdir():  # keep the checkpoints of this run only (rollback)
        if other.is_dir() and other != output_dir:
            shutil.rmtree(other, ignore_errors=True)
    if live is not None:
        live.end()
    steps = trainer.state.global_step
    atomic.write_json(METRICS_FILE, {"selected_step": selected, "select": tp["select"], "total_steps": steps,
                                     "eval_steps": [row["step"] for row in history]})
    n_train = len(trainer.train_dataset)
    atomic.write_json(RUN_RECORD_FILE, run_record.collect(
        precision=resolve_precision(tp["precision"]), wall_seconds=wall, train_pairs=n_train * tp["epochs"],
        resumed_from=resume, frozen_cache=cache is not None, processes=trainer.args.world_size,
        per_device_batch_size=tp["batch_size"], global_batch_size=tp["batch_size"] * trainer.args.world_size))
    print(f"train: {steps} steps in {wall:.1f}s; published step {selected} ({tp['select']}) to {MODEL_DIR}/")


def select_step(history: list[dict], how: str) -> int:
    """Step to publish: the last, or the one with the highest eval score (step 0, the base model, excluded)."""
    trained = [row for row in history if row["step"] > 0]
    if not trained:
        raise UserError("training logged no evaluation after step 0", fix="check train.epochs and the data size")
    if how == "last":
        return trained[-1]["step"]
    return max(trained, key=lambda row: (row["eval_score"], -row["step"]))["step"]


def publish(trainer: SentenceTransformerTrainer, output_dir: Path, step: int, params: dict, row: dict) -> None:
    """Write the chosen checkpoint's weights, with a model card, to models/model (atomically)."""
    model = trainer.model
    if step != trainer.state.global_step:
        from safetensors.torch import load_file

        model[0].auto_model.load_state_dict(load_file(str(output_dir / f"checkpoint-{step}" / "model.safetensors")))
    model.model_card_data.language = ["bn"]
    model.model_card_data.base_model = base_model_id(params["model"]["name"])
    with atomic.atomic_dir(MODEL_DIR) as tmp:
        model.save(str(tmp))
        (tmp / "selection.json").write_text(json.dumps({"step": step, "select": params["train"]["select"]}) + "\n")
        append_project_section(tmp / "README.md", params, step, row)

