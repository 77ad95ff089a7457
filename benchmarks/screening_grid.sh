#!/usr/bin/env bash
# Issue 21's screening grid: one knob at a time from the default recipe, on a 2,000-pair subset of the real
# data, validation only. Each run is `dvc exp run --queue ... train`: the pipeline up to the train stage, so
# the evaluate stage (the only reader of the test split) never runs in the screen; the figures are the
# train stage's: validation MRR@10 with every validation question ranked against ALL passages of the
# prepared corpus (training passages included), of the base model (step 0) and of the published step
# (metrics/train.json), with its wall time. (The metrics/evaluate.json columns of these runs are the
# baseline commit's, unchanged, so the table leaves them out.)
#
#   benchmarks/screening_grid.sh screen              # phase 1: queue the one-knob runs, run them, print the table
#   benchmarks/screening_grid.sh lr -S KNOB=VALUE..  # phase 2: the learning rate re-checked at the winning setting
#   benchmarks/screening_grid.sh full NAME -S ...    # phase 3: the full data, whole pipeline (test figures)
#   benchmarks/screening_grid.sh show                # the table again
# Options (environment): DRY=1 prints the dvc commands and runs nothing; QUEUE_ONLY=1 queues without starting;
# ONLY=REGEX queues only the runs whose name matches; GRID=prefix of the run names (default g21);
# R=the dataset folder; SAMPLES=prepare.num_samples of the subset (default 2000).
#
# Sizing (2 cores, one run at a time; the subset's ~1,600 training questions are 100 optimizer steps per
# epoch at batch 16; the e5-small train stage takes ~4.9 s/step at batch 16 with 2 trainable layers,
# measured on the full data: 339 steps, `seconds_per_step` in the run record of `full-seed-e5`):
#   run                           steps  est. s/step    train  + evals, mining, exp set-up  ~ total
#   g21-default (2 layers)          100   4.9             8 min   + ~3 min                      11 min
#   g21-layers-4 / -6               100   ~7 / ~10       12/16    + ~3                          15 + 19
#   g21-epochs-2 / -3          200 / 300  4.9            16/25    + ~3/+4                       19 + 29
#   g21-cached-b64 / -b128      25 / 13   ~19 / ~38      ~8 each  + ~3 (texts per run as default) 11 + 11
#   g21-hardneg-1 / -3              100   ~7.4 / ~12     12/20    + ~4 (the mine stage)         16 + 24
#   phase 1                                                                                 ~ 2 h 35 min
#   phase 2: two learning rates at the winner's cost (11-29 min each)                       ~ 25-55 min
# Estimates: s/step scales with the texts per step through the trainable layers (the frozen-prefix cache
# runs the frozen ones once per text): hard negatives add one passage per question; more trainable layers
# cost roughly in proportion to them; cached_mnrl at batch 64/128 embeds as many texts per epoch as
# batch 16 plus a no-gradient pass of the trainable layers. Evaluations (3 per 1-epoch run, each ranking
# ~200 validation questions against the whole corpus of ~1,000 passages) cost ~1.5 min for the first (full
# forward) and ~15 s for the later ones (frozen states cached): benchmarks/corpus_eval_cost.py measured
# 0.167 CPU s per passage cold and 0.030 cached (e5-small, 256 tokens, 2 threads; i.e. ~12 and ~65
# passages/s on 2 idle cores; under load average 9 it gave 2.0 and 13 passages/s wall). If phase 1 + 2
# must fit 3 hours, drop g21-epochs-3 first (the costliest; run it only if epochs 2 beats 1). Phase 3
# (full data, ~339 steps x s/step + evaluate) is outside the 3 hours.
# Not measured as a whole here: the figures above are estimates from the per-step figure; the table's
# wall_seconds column is the measurement.
set -euo pipefail

GRID=${GRID:-g21}
R=${R:-../shared/datasets/bangla-factoid-qa}
SAMPLES=${SAMPLES:-2000}
SRC=(-S "data.sources.D2=$R/D2/BanQA/data" -S "data.sources.D3=$R/D3/BanQA/data" -S "data.sources.D4=$R/D4/BanQA/data")
SUBSET=(-S "prepare.num_samples=$SAMPLES")
COLUMNS='^Experiment$|^val_mrr_at_10_base$|^val_mrr_at_10_selected$|^train_loss$|^wall_seconds$|^seconds_per_step$'
COLUMNS+='|^total_steps$|^model\.trainable_layers$|^train\.(epochs|batch_size|loss|hard_negatives|learning_rate)$'

run() {
  if [[ -n "${DRY:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi
}

queue() {  # queue NAME [TARGET] -S ...: one run; NAME filtered by ONLY
  local name=$1; shift
  [[ -z "${ONLY:-}" || "$name" =~ $ONLY ]] || return 0
  run dvc exp run --queue -n "$name" "${SRC[@]}" "$@"
}

start_and_wait() {
  [[ -n "${QUEUE_ONLY:-}" ]] && return 0
  run dvc queue start -j 1
  [[ -n "${DRY:-}" ]] && return 0
  local started=$SECONDS status
  # (no `dvc ... | grep -q`: under pipefail, grep's early exit would end the wait)
  while status=$(dvc queue status); grep -qE 'Queued|Running' <<<"$status"; do sleep "${POLL:-30}"; done
  echo "grid: the queue ran for $(( (SECONDS - started) / 60 )) min"
  if grep -q Failed <<<"$status"; then echo "grid: some runs failed: see dvc queue status, dvc queue logs NAME"; fi
}

show() {
  run dvc exp show --md --drop '.*' --keep "$COLUMNS" --sort-by val_mrr_at_10_selected --sort-order desc
}

case "${1:-screen}" in
  screen)
    queue "$GRID-default" "${SUBSET[@]}" train
    queue "$GRID-layers-4" "${SUBSET[@]}" -S model.trainable_layers=4 train
    queue "$GRID-layers-6" "${SUBSET[@]}" -S model.trainable_layers=6 train
    queue "$GRID-epochs-2" "${SUBSET[@]}" -S train.epochs=2 train
    queue "$GRID-epochs-3" "${SUBSET[@]}" -S train.epochs=3 train
    queue "$GRID-cached-b64" "${SUBSET[@]}" -S train.loss=cached_mnrl -S train.batch_size=64 train
    queue "$GRID-cached-b128" "${SUBSET[@]}" -S train.loss=cached_mnrl -S train.batch_size=128 train
    queue "$GRID-hardneg-1" "${SUBSET[@]}" -S train.hard_negatives=1 train
    queue "$GRID-hardneg-3" "${SUBSET[@]}" -S train.hard_negatives=3 train
    start_and_wait
    show
    ;;
  lr)  # lr -S model.trainable_layers=4 ...: the winning setting's knobs
    shift
    queue "$GRID-lr-5e-5" "${SUBSET[@]}" "$@" -S train.learning_rate=5e-5 train
    queue "$GRID-lr-2e-4" "${SUBSET[@]}" "$@" -S train.learning_rate=2e-4 train
    start_and_wait
    show
    ;;
  full)  # full NAME -S ...: the whole pipeline on all the data, test figures included
    name=$2; shift 2
    queue "$GRID-full-$name" "$@"
    start_and_wait
    run dvc exp show --md --drop '.*' --keep \
      "^Experiment$|^test\.(base|tuned|delta)\.mrr_at_10|^validation\.(base|tuned)\.mrr_at_10$|^wall_seconds$|^model\.trainable_layers$|^train\."
    ;;
  show) show ;;
  *) echo "usage: $0 [screen | lr -S KNOB=VALUE... | full NAME -S KNOB=VALUE... | show]" >&2; exit 2 ;;
esac
