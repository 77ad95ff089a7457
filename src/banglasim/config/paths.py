"""Every path the pipeline reads or writes, relative to the repository root; dvc.yaml names the same ones.

One definition each: stages import their paths from here, never from another stage, and a test checks
that dvc.yaml's deps and outs agree with these names.
"""

from __future__ import annotations

from pathlib import Path

PARAMS_FILE = Path("params.yaml")
PARAMS_CHECK_FILE = Path("reports/params_check.txt")  # written by check_params; every first stage depends on it

# data
SOURCES_DIR = Path("data/sources")  # one folder per source, written by the `ingest` stage
PREPARED_DIR = Path("data/prepared")
PASSAGES_FILE = PREPARED_DIR / "passages.jsonl"
EXAMPLES_FILE = PREPARED_DIR / "examples.jsonl"
SPLITS_DIR = Path("data/splits")
TRAIN_FILE, VALIDATION_FILE, TEST_FILE = (SPLITS_DIR / f"{split}.jsonl" for split in ("train", "validation", "test"))
MINED_DIR = Path("data/mined")
MINED_TRAIN_FILE = MINED_DIR / "train.jsonl"  # train.jsonl with hard negatives, written by the `mine` stage

# models
BASE_MODEL_DIR = Path("models/base")  # the base model of model.name, materialised by the `base_model` stage
MODEL_DIR = Path("models/model")
EXPORT_DIR = Path("models/export")  # the tuned model as ONNX + tokenizer + manifest + card, written by `export`
INDEX_DIR = Path("models/index")  # the export's vectors of the prepared passages, written by the `index` stage
RERANKER_DIR = Path("models/reranker")  # the fine-tuned cross-encoder, written by `train_reranker`
RERANKER_EXPORT_DIR = Path("models/reranker_export")  # its ONNX export, written by `export_reranker`
CHECKPOINT_ROOT = Path(".checkpoints")

# metrics (one file per stage that writes them), DVCLive and reports
METRICS_DIR = Path("metrics")
PREPARE_METRICS, SPLIT_METRICS, MINE_METRICS, TRAIN_METRICS, EVALUATE_METRICS = (
    METRICS_DIR / f"{stage}.json" for stage in ("prepare", "split", "mine", "train", "evaluate")
)
RERANKER_METRICS = METRICS_DIR / "reranker.json"  # the re-ranker's validation MRR@10, against BM25 and its first stage
RERANKER_LIVE_DIR = Path("dvclive_reranker")  # its DVCLive series: train_loss, val_mrr_at_10
LIVE_DIR = Path("dvclive")
LIVE_METRICS_FILE = LIVE_DIR / "metrics.json"
LIVE_PARAMS_FILE = LIVE_DIR / "params.yaml"  # the run the DVCLive series belong to
LIVE_PLOTS_DIR = LIVE_DIR / "plots"
LIVE_METRICS_DIR = LIVE_PLOTS_DIR / "metrics"  # per evaluation step (eval_score, val_mrr_at_10, train_loss, ...)
LIVE_STEP_SERIES_DIR = LIVE_METRICS_DIR / "steps"  # every few optimizer steps: train_loss, learning_rate
REPORTS_DIR = Path("reports")
RUN_RECORD_FILE = REPORTS_DIR / "run_record.json"
REPORT_FILE = REPORTS_DIR / "training_report.md"
EVALUATION_DETAILS = (
    REPORTS_DIR / "evaluation.json"
)  # every figure of evaluate; metrics/evaluate.json holds the headline
PLOT_FILE = REPORTS_DIR / "training_curves.png"

# caches outside DVC's view
SEARCH_CACHE_DIR = Path(".cache/search")


def source_records_file(name: str) -> Path:
    """One source's normalised question records, written by its `ingest` stage."""
    return SOURCES_DIR / name / "records.jsonl"


def source_counts_file(name: str) -> Path:
    """One source's counts (files read, records skipped, ...), written by its `ingest` stage."""
    return SOURCES_DIR / name / "counts.json"
