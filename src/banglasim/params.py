"""Reading and validating params.yaml: every knob is checked before any heavy work starts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from banglasim.errors import UserError

PARAMS_FILE = "params.yaml"
POOLING_MODES = ("mean", "cls", "max", "lasttoken", "weightedmean")
DEFAULT_MODEL = "default"

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


def _int(lo: int | None = None, hi: int | None = None) -> tuple[Check, str]:
    def ok(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)

    if hi is None:
        return ok, f"an integer >= {lo}"
    return ok, f"an integer from {lo} to {hi}"


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
    return (lambda v: v in options), "one of " + ", ".join(repr(o) for o in options)


def _nonempty_str() -> tuple[Check, str]:
    return (lambda v: isinstance(v, str) and v.strip() != ""), "a non-empty string"


def _str_list() -> tuple[Check, str]:
    return (
        lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(s, str) and s for s in v)
    ), "a non-empty list of folder paths"


# section -> param -> (check, allowed values in words). Every param of params.yaml is here.
SCHEMA: dict[str, dict[str, tuple[Check, str]]] = {
    "data": {"sources": _str_list()},
    "prepare": {
        "num_samples": _int(1),
        "seed": _int(0),
        "on_error": _choice("fail", "skip"),
        "max_passage_chars": _int(1),
    },
    "split": {
        "val_fraction": _float_open(0.0, 1.0),
        "seed": _int(0),
        "group_by": _choice("passage", "none"),
        "negatives_per_query": _int(0),
    },
    "model": {
        "name": _nonempty_str(),
        "max_seq_length": _int(8, 8192),
        "pooling": _choice(*POOLING_MODES),
        "trainable_layers": _int(1),
    },
    "train": {
        "epochs": _int(1),
        "batch_size": _int(1),
        "learning_rate": _float_open(0.0),
        "warmup_steps": _int(0),
        "evals_per_epoch": _int(1),
        "seed": _int(0),
        "select": _choice("last", "best"),
        "precision": _choice("auto", "fp32", "bf16", "fp16"),
        "cache_frozen": _choice(True, False),
        "processes": _int(1),
    },
    "evaluate": {
        "batch_size": _int(1),
        "bootstrap_samples": _int(0),
        "seed": _int(0),
    },
}


def load_params(path: str | Path = PARAMS_FILE, sections: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Load params.yaml and validate the named sections (all when None); raise UserError on any problem."""
    path = Path(path)
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
    wanted = sections or tuple(SCHEMA)
    for section in wanted:
        validate_section(raw, section, path)
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


def check_sources_exist(sources: list[str], root: Path = Path(".")) -> list[Path]:
    """Every folder of data.sources must exist and be a folder."""
    paths = []
    for src in sources:
        p = root / src
        if not p.is_dir():
            raise UserError(
                f"params.yaml: param data.sources lists '{src}', which is not an existing folder",
                fix="point data.sources at folders of SQuAD-style JSON, JSON Lines or CSV/TSV files",
            )
        paths.append(p)
    return paths
