"""Stage `ingest@NAME` (one per entry of `data.sources`): read, validate and normalise one source folder.

Writes data/sources/NAME/records.jsonl (one normalised question record per line, in file order) and
data/sources/NAME/counts.json. Each source is its own DVC stage with the folder as a hashed dependency,
so a source outside the repository is tracked like one inside, and editing one source re-reads only it.
"""

from __future__ import annotations

from banglasim.config.params import load_params
from banglasim.config.paths import source_counts_file, source_records_file
from banglasim.core import atomic
from banglasim.core.errors import UserError
from banglasim.data.sources import counts_dict, read_source


def run(params_path: str, name: str | None = None) -> None:
    """Ingest the source `name`, or every source when None (handy outside DVC)."""
    params = load_params(params_path, ("data", "prepare"))
    sources, cfg = params.data.sources, params.prepare
    if name is not None and name not in sources:
        raise UserError(
            f"{params_path}: data.sources has no source named '{name}'", fix=f"known sources: {', '.join(sources)}"
        )
    labels = [name] if name is not None else list(sources)
    read = {
        label: read_source(sources[label], label, cfg.on_error, cfg.max_passage_chars, params_path) for label in labels
    }  # every source read and checked before any is written
    for label, (records, counts) in read.items():
        records_file, counts_file = source_records_file(label), source_counts_file(label)
        with atomic.atomic_dir(records_file.parent) as out:
            (out / records_file.name).write_text(atomic.jsonl_text(records), encoding="utf-8")
            (out / counts_file.name).write_text(atomic.json_text(counts_dict(counts)), encoding="utf-8")
        print(
            f"ingest {label}: {counts.questions} questions, {counts.passages} passage entries from "
            f"{counts.files_read} file(s) under {sources[label]}"
        )
