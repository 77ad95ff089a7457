"""Reading and validating params.yaml: every knob is checked before any heavy work starts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from banglasim.errors import UserError
from banglasim.paths import PARAMS_FILE

POOLING_MODES = ("mean", "cls", "max", "lasttoken", "weightedmean")

Check = Callable[[Any], bool]


class _Yaml12FloatLoader(yaml.SafeLoader):
    """SafeLoader that reads `2e-05` as a float, as YAML 1.2 (and DVC's `-S`, which writes it so) does."""


_Yaml12FloatLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def _or_null(check: tuple[Check, str]) -> tuple[Check, str]:
    return (lambda v: v is None or check[0](v)), f"{check[1]}, or null"


def _int(lo: int | None = None, hi: int | None = None) -> tuple[Check, str]:
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)

    if hi is None:
        return ok, f"an integer >= {lo}"
    return ok, f"an integer from {lo} to {hi}"


def _float_range(lo: float, hi: float) -> tuple[Check, str]:
    """lo <= v < hi."""
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v < hi), \
        f"a number from {lo} up to (not including) {hi}"


def _float_open(lo: float, hi: float | None = None) -> tuple[Check, str]:
    def ok(v: Any) -> bool:
        return (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            and v > lo
            and (hi is None or v < hi)
        )

    return ok, f"a number > {lo}" if hi is None else f"a number strictly between {lo} and {hi}"


def _choice(*options: Any) -> tuple[Check, str]:
    # type too: 1 == True in Python, but `cache_frozen: 1` is not a boolean
    allowed = "one of " + ", ".join(repr(o) for o in options)
    return (lambda v: any(v == o and type(v) is type(o) for o in options)), allowed


def _bool() -> tuple[Check, str]:
    return (lambda v: isinstance(v, bool)), "true or false"


def _prompt() -> tuple[Check, str]:
    return (lambda v: v is None or isinstance(v, str)), "a string (\"\" for none) or null (the base model's own)"


def _nonempty_str() -> tuple[Check, str]:
    return (lambda v: isinstance(v, str) and v.strip() != ""), "a non-empty string"


SOURCE_NAME = re.compile(r"^\w[\w-]*$")  # a DVC stage-name key: ingest@NAME


def _source_map() -> tuple[Check, str]:
    return (
        lambda v: isinstance(v, dict) and len(v) > 0
        and all(isinstance(k, str) and SOURCE_NAME.match(k) and isinstance(f, str) and f.strip() for k, f in v.items())
    ), ("a non-empty mapping of source names (letters, digits, '_' and '-', no spaces) to folder paths, "
        "e.g. {D2: data/raw/D2/BanQA/data}")


# section -> param -> (check, allowed values in words). Every param of params.yaml is here.
SCHEMA: dict[str, dict[str, tuple[Check, str]]] = {
    "data": {"sources": _source_map()},
    "prepare": {
        "num_samples": _int(1),
        "seed": _int(0),
        "on_error": _choice("fail", "skip"),
        "max_passage_chars": _int(1),
    },
    "split": {
        "val_fraction": _float_open(0.0, 1.0),
        "test_fraction": _float_open(0.0, 1.0),
        "seed": _int(0),
        "group_by": _choice("passage", "none"),
        "negatives_per_query": _int(1),  # the eval score (a Spearman over 1.0/0.0 pairs) needs negative pairs
    },
    "mine": {
        "relative_margin": _float_range(0.0, 1.0),
        "range_max": _int(1),
        "batch_size": _int(1),
    },
    "model": {
        "name": _nonempty_str(),
        "max_seq_length": _int(8, 8192),
        "pooling": _choice(*POOLING_MODES),
        "trainable_layers": _int(1),
        "query_prompt": _prompt(),
        "passage_prompt": _prompt(),
    },
    "train": {
        "epochs": _int(1),
        "batch_size": _int(1),
        "learning_rate": _float_open(0.0),
        "warmup_steps": _or_null(_int(0)),
        "warmup_ratio": _or_null(_float_range(0.0, 1.0)),
        "loss": _choice("mnrl", "cached_mnrl"),
        "mini_batch_size": _int(1),
        "batch_sampler": _choice("no_duplicates", "batch_sampler"),
        "hard_negatives": _int(0),
        "evals_per_epoch": _int(1),
        "seed": _int(0),
        "select": _choice("last", "best"),
        "precision": _choice("auto", "fp32", "bf16", "fp16"),
        "cache_frozen": _bool(),
        "cache_max_mb": _int(0),
        "processes": _int(1),
    },
    "evaluate": {
        "batch_size": _int(1),
        "bootstrap_samples": _int(0),
        "seed": _int(0),
    },
}


# rules across params: (sections they read, check, message)
RULES: list[tuple[tuple[str, ...], Callable[[dict], bool], str]] = [
    (("split",), lambda p: p["split"]["val_fraction"] + p["split"]["test_fraction"] < 1,
     "params split.val_fraction + split.test_fraction must be below 1 (train needs the rest)"),
    (("train",), lambda p: (p["train"]["warmup_steps"] is None) != (p["train"]["warmup_ratio"] is None),
     "set exactly one of train.warmup_steps and train.warmup_ratio (the other null)"),
]


def load_params(path: str | Path = PARAMS_FILE, sections: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Load params.yaml, validate the named sections (all when None) and return just those; UserError on any problem."""
    path = Path(path)
    raw = read_raw_params(path)
    wanted = sections or tuple(SCHEMA)
    for section in wanted:
        validate_section(raw, section, path)
    for needs, check, message in RULES:
        if set(needs) <= set(wanted) and not check(raw):
            raise UserError(f"{path}: {message}")
    return {section: raw[section] for section in wanted}


def read_raw_params(path: Path) -> dict:
    """The params file as a dict, unvalidated (YAML 1.2 floats, as DVC writes them)."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Yaml12FloatLoader)
    except FileNotFoundError:
        raise UserError(f"{path}: not found", fix="run from the repository root, where params.yaml lives") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(f"{path}: not valid YAML{where}: {problem}", fix="fix the YAML syntax") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def validate_section(raw: dict, section: str, path: Path | str = PARAMS_FILE) -> None:
    """Check one section's types and ranges; the error names the param and its allowed values."""
    values = raw.get(section)
    if not isinstance(values, dict):
        raise UserError(f"{path}: section '{section}' is missing", fix=f"add a '{section}:' section")
    for name, (check, allowed) in SCHEMA[section].items():
        if name not in values:
            raise UserError(f"{path}: param {section}.{name} is missing; it must be {allowed}")
        if not check(values[name]):
            raise UserError(f"{path}: param {section}.{name} = {values[name]!r} is invalid; it must be {allowed}")
    unknown = sorted(set(values) - set(SCHEMA[section]))
    if unknown:
        raise UserError(
            f"{path}: unknown param(s) {', '.join(f'{section}.{u}' for u in unknown)}",
            fix=f"known params of '{section}': {', '.join(SCHEMA[section])}",
        )


def check_sources_exist(sources: dict[str, str], params_path: str | Path = PARAMS_FILE) -> None:
    """Every folder of data.sources must exist and be a folder; the error names the params file it came from."""
    for name, folder in sources.items():
        if not Path(folder).is_dir():
            raise UserError(
                f"{params_path}: param data.sources.{name} = '{folder}' is not an existing folder",
                fix="point it at a folder of SQuAD-style JSON, JSON Lines or CSV/TSV files",
            )
