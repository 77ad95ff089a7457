"""Stage `check_params`, the first of the pipeline: validate every section of the params file at once.

Every other stage depends on its output, so a bad value anywhere (say `train.learning_rate=-1e-5`)
stops `dvc repro` / `dvc exp run` before any stage with outputs runs, and every output stays as it
was. The output's content never changes, so a passing check reruns nothing downstream. It also checks
what DVC needs of each source folder (config/source_folders.py), which DVC hashes before ingest runs.
"""

from __future__ import annotations

from pathlib import Path

from banglasim.config.params import check_sources_exist, load_params, read_raw_params
from banglasim.config.paths import PARAMS_CHECK_FILE
from banglasim.config.source_folders import check_source_folders, check_sources_shape
from banglasim.core import atomic

CHECKED = "every param of the params file is valid and every source folder exists\n"


def run(params_path: str) -> None:
    raw_data = read_raw_params(Path(params_path)).get("data")
    if isinstance(raw_data, dict) and "sources" in raw_data:  # shapes DVC itself trips on, spelled out
        check_sources_shape(raw_data["sources"], params_path)
    params = load_params(params_path)  # all sections
    check_sources_exist(params.data.sources, params_path)
    check_source_folders(params.data.sources, params_path)  # every file DVC will hash is readable
    atomic.write_text(PARAMS_CHECK_FILE, CHECKED)
    print(f"check_params: {params_path} is valid")
