#!/usr/bin/env bash
# The train stage on this machine's accelerator: pass/fail per case and steps/s (see benchmarks/gpu_check.py).
# On a GPU machine it takes under 5 minutes; on a CPU-only machine it runs the CPU cases.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
exec "$PY" benchmarks/gpu_check.py "$@"
