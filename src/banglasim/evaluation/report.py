"""The training report: every number in it is read from the run's files, none is typed by hand."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

from banglasim.config.params import read_raw_params
from banglasim.config.paths import (
    LIVE_METRICS_DIR,
    LIVE_STEP_SERIES_DIR,
    PARAMS_FILE,
    PLOT_FILE,
    REPORT_FILE,
    RUN_RECORD_FILE,
    TRAIN_METRICS,
)
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.evaluation.reranking import rerank_note, reranker_training_lines
from banglasim.evaluation.retrievers import best_retriever

CURVES = ("train_loss", "eval_score", "avg_cosine", "val_mrr_at_10")
COMPARED = (
    "mrr_at_10",
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "ndcg_at_10",
    "eval_score",
    "avg_cosine",
    "avg_cosine_negative",
    "cosine_gap",
)


def read_series(folder: Path = LIVE_METRICS_DIR) -> dict[int, dict]:
    """DVCLive's .tsv series of one folder (not its subfolders) merged by step: {step: {metric: value,
    'timestamp': ms}}; the per-evaluation series by default, LIVE_STEP_SERIES_DIR for the loss and rate curves."""
    by_step: dict[int, dict] = {}
    for tsv in sorted(folder.glob("*.tsv")):
        with open(tsv, encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                entry = by_step.setdefault(int(row["step"]), {})
                entry[tsv.stem] = float(row[tsv.stem])
                if row.get("timestamp"):
                    entry["timestamp"] = max(entry.get("timestamp", 0), int(row["timestamp"]))
    return dict(sorted(by_step.items()))


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _plot(series: dict[int, dict], steps: dict[int, dict], path: Path) -> None:
    """One panel per evaluation curve, and the training loss / learning rate of every few steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CURVES) + 1, figsize=(4 * (len(CURVES) + 1), 3.4))
    for ax, name in zip(axes, CURVES):
        pts = [(s, v[name]) for s, v in series.items() if name in v]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o")
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    ax = axes[-1]
    pts = [(s, v["train_loss"]) for s, v in steps.items() if "train_loss" in v]
    handles = ax.plot([p[0] for p in pts], [p[1] for p in pts], label="loss (mean of a few steps)")
    ax.set_title("training loss and learning rate", pad=14)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    lr = [(s, v["learning_rate"]) for s, v in steps.items() if "learning_rate" in v]
    if lr:
        twin = ax.twinx()
        handles += twin.plot(
            [p[0] for p in lr], [p[1] for p in lr], color="tab:orange", linestyle="--", label="learning rate (right)"
        )
        twin.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.legend(handles=handles, loc="upper right", fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    atomic.write_bytes(path, buffer.getvalue())


def params_changes(used: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names whose values differ between the params a run used and the current params file."""
    changes = []
    for key in sorted(set(used) | set(current)):
        a, b = used.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += params_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(
                f"`{prefix}{key}`: run {json.dumps(a, ensure_ascii=False)}, now {json.dumps(b, ensure_ascii=False)}"
            )
    return changes


def _current_params(sections: list[str]) -> dict:
    try:
        raw = read_raw_params(PARAMS_FILE)
    except UserError:
        return {}
    return {s: raw.get(s) for s in sections}


def _change(delta: dict, name: str) -> str:
    text = f"{delta[name]:+.4f}"
    if f"{name}_ci_low" in delta:
        text += f" [{delta[name + '_ci_low']:+.4f}, {delta[name + '_ci_high']:+.4f}]"
    return text


def _metric_rows(part: dict, label: str = "metric") -> list[str]:
    """Base, tuned and the change for each metric of one block (and the export, with export - tuned, when the
    block has it), with the intervals where computed."""
    export = part.get("export")
    lines = [
        f"| {label} | base | tuned | delta |" + (" export (ONNX) | export - tuned |" if export else ""),
        "|---|---|---|---|" + ("---|---|" if export else ""),
    ]
    base, tuned, delta = part["base"], part["tuned"], part["delta"]
    for name in COMPARED:
        if name not in tuned:
            continue
        cells = []
        for side in (base, tuned, *([export] if export else [])):
            cell = _fmt(side[name])
            if f"{name}_ci_low" in side:
                cell += f" [{_fmt(side[name + '_ci_low'])}, {_fmt(side[name + '_ci_high'])}]"
            cells.append(cell)
        row = f"| {name} | {cells[0]} | {cells[1]} | {_change(delta, name)} |"
        if export:
            row += f" {cells[2]} | {_change(part['export_delta'], name)} |"
        lines.append(row)
    return lines


def _results_table(evaluation: dict) -> list[str]:
    """Base vs tuned (and the export) on one split (whole corpus), then MRR@10 per source."""
    lines = _metric_rows(evaluation)
    lines += ["", "| source | base MRR@10 | tuned MRR@10 |", "|---|---|---|"]
    for src, v in evaluation["per_source"].items():
        lines.append(f"| {src} | {_fmt(v['base_mrr_at_10'])} | {_fmt(v['tuned_mrr_at_10'])} |")
    return lines


def verdict(part: dict) -> str:
    """One sentence on what fine-tuning did to MRR@10 on a split, judged by the paired 95% interval of the change."""
    b, t, d = part["base"], part["tuned"], part["delta"]
    text = f"MRR@10 went from {b['mrr_at_10']:.4f} (base) to {t['mrr_at_10']:.4f} (tuned), {d['mrr_at_10']:+.4f}"
    if "mrr_at_10_ci_low" not in d:
        return text + " (no interval: evaluate.bootstrap_samples is 0)."
    lo, hi = d["mrr_at_10_ci_low"], d["mrr_at_10_ci_high"]
    ci = f"95% interval of the change [{lo:+.4f}, {hi:+.4f}] (paired bootstrap over {part['n_queries']} questions)"
    if lo > 0:
        return f"{text}; {ci}: fine-tuning improved retrieval."
    if hi < 0:
        return f"{text}; {ci}: fine-tuning made retrieval worse."
    return f"{text}; {ci} includes 0: no change these questions can tell apart from chance."


def export_note(part: dict) -> list[str]:
    """One sentence on the export (models/export) against the fp32 tuned model; nothing when it was not scored."""
    if "export" not in part:
        return []
    e, d = part["export"], part["export_delta"]
    text = (
        f"The export (models/export, ONNX) scores MRR@10 {e['mrr_at_10']:.4f}, export - tuned {_change(d, 'mrr_at_10')}"
    )
    return [text + (" (paired 95% interval)." if "mrr_at_10_ci_low" in d else "."), ""]


def retriever_rows(part: dict) -> list[str]:
    """BM25, the export (dense) and the hybrid on one split, with the changes against BM25; nothing without them."""
    if "hybrid" not in part:
        return []
    lines = [
        "The search engine's view: BM25 (the keyword engine), the export alone (dense, passages by window) and "
        "the hybrid that search and serve rank with by default (retrieval section of params.yaml):",
        "",
        "| retriever | MRR@10 | Recall@1 | Recall@10 | MRR@10 - BM25 (paired 95% interval) |",
        "|---|---|---|---|---|",
    ]
    for name, key, delta in (
        ("BM25", "bm25", None),
        ("dense (tuned, fp32)", "tuned", "tuned_vs_bm25"),
        ("dense (export)", "export", None),
        ("hybrid", "hybrid", "hybrid_vs_bm25"),
        ("hybrid + re-ranker (fp32)", "reranked", "reranked_vs_bm25"),
        ("hybrid + re-ranker (export)", "reranked_export", None),
    ):
        if key not in part:
            continue
        m = part[key]
        change = _change(part[delta], "mrr_at_10") if delta else ""
        lines.append(
            f"| {name} | {_fmt(m['mrr_at_10'])} | {_fmt(m['recall_at_1'])} | {_fmt(m['recall_at_10'])} | {change} |"
        )
    if part.get("fusion_sweep"):
        best = max(part["fusion_sweep"], key=lambda r: r["mrr_at_10"])
        lines += [
            "",
            f"Fusion sweep (this split): the best is {best['method']} with dense weight {best['dense_weight']} "
            f"(MRR@10 {best['mrr_at_10']:.4f}); every row is in reports/evaluation.json (`fusion_sweep`).",
        ]
    return [*lines, *rerank_note(part), ""]


def write_report(evaluation: dict) -> None:
    """Write reports/training_report.md and reports/training_curves.png from the run's own files.

    The configuration shown is the one the run record says trained the model, not today's params file;
    any difference between the two is listed.
    """
    series, steps = read_series(), read_series(LIVE_STEP_SERIES_DIR)
    record = json.loads(RUN_RECORD_FILE.read_text(encoding="utf-8")) if RUN_RECORD_FILE.exists() else {}
    train = json.loads(TRAIN_METRICS.read_text(encoding="utf-8"))
    PLOT_FILE.parent.mkdir(parents=True, exist_ok=True)
    _plot(series, steps, PLOT_FILE)
    last = (
        ""
        if train["selected_step"] == train["total_steps"]
        else (
            f" DVCLive's summary (`dvclive/metrics.json`) is of the last step, {train['total_steps']}; its "
            f"`published_step` names this one."
        )
    )
    lines = [
        "# Training report",
        "",
        *([f"**Test: {best_retriever(evaluation['test'])}.**", ""] if "hybrid" in evaluation.get("test", {}) else []),
        f"Published model: step {train['selected_step']} "
        f"(`train.select: {train['select']}`) of {train['total_steps']} steps.{last}",
        "",
        "## Results by evaluation step (from DVCLive)",
        "",
        "| timestamp (UTC) | epoch | step | train loss | eval score | average cosine | validation MRR@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for step, v in series.items():
        ts = (
            datetime.fromtimestamp(v["timestamp"] / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            if "timestamp" in v
            else ""
        )
        lines.append(
            f"| {ts} | {_fmt(v.get('epoch'), 2)} | {step} | {_fmt(v.get('train_loss'))} | "
            f"{_fmt(v.get('eval_score'))} | {_fmt(v.get('avg_cosine'))} | {_fmt(v.get('val_mrr_at_10'))} |"
        )
    lines += [
        "",
        f"![curves]({PLOT_FILE.name})",
        "",
        f"The last panel: the training loss, a mean of every few optimizer steps ({len(steps)} points, "
        f"DVCLive `{LIVE_STEP_SERIES_DIR}/`), and the learning rate.",
        "",
    ]
    for split, title in (
        ("test", "test: passages no training or choice has seen"),
        ("validation", "validation: the split `train.select: best` chooses on"),
    ):
        part = evaluation[split]
        lines += [
            f"## Base model vs tuned model ({title})",
            "",
            f"{part['n_queries']} questions, each ranked against all {part['n_passages']} passages of the "
            "prepared corpus, training passages included, as a search engine holding them would rank them "
            "(ties count against the right passage); 95% bootstrap intervals in brackets (for the change: "
            "paired, the same resampled questions for both models). The eval score and average cosines "
            "are those of the split's scored pairs.",
            "",
            f"**{verdict(part)}**",
            "",
            *export_note(part),
            *_results_table(part),
            "",
            *retriever_rows(part),
        ]
        if part.get("within_split"):
            lines += [
                f"Secondary: the same questions ranked against only the {part['n_split_passages']} passages "
                "of their own split (an easier task, kept for comparison with earlier runs):",
                "",
                *_metric_rows(part["within_split"], "metric (within the split)"),
                "",
            ]
    lines += reranker_training_lines(evaluation.get("reranker_training"))
    used = record.get("params", {})
    changes = params_changes(used, _current_params(list(used)))
    lines += [
        "",
        "## Configuration of the run (from the run record)",
        "",
        f"Code revision: `{record.get('code_revision', 'unknown')}`.",
        "",
    ]
    if changes:
        lines += [
            f"**The params file now differs from the params this model was trained with** "
            f"({len(changes)} value(s)); the model and its metrics are those of the run:",
            "",
        ]
        lines += [f"- {c}" for c in changes] + [""]
    lines += [
        "```json",
        json.dumps(used, indent=2, ensure_ascii=False),
        "```",
        "",
        "## Run record",
        "",
        "```json",
        json.dumps(record, indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    atomic.write_text(REPORT_FILE, "\n".join(lines))
