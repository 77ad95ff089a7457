"""Reading and validating params.yaml: every knob is checked before any heavy work starts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from banglasim.config.paths import PARAMS_FILE
from banglasim.core.errors import UserError

POOLING_MODES = ("mean", "cls", "max", "lasttoken", "weightedmean")

Check = Callable[[Any], bool]


class _Yaml12FloatLoader(yaml.SafeLoader):
    """SafeLoader that reads `2e-05` as a float, as YAML 1.2 (and DVC's `-S`, which writes it so) does."""


_Yaml12FloatLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                |[-+]?\.(?:inf|Inf|INF)
                |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
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
    return (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v < hi
    ), f"a number from {lo} up to (not including) {hi}"


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


def _float_closed(lo: float, hi: float) -> tuple[Check, str]:
    return (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi
    ), f"a number from {lo} to {hi}"


def _choice(*options: Any) -> tuple[Check, str]:
    # type too: 1 == True in Python, but `cache_frozen: 1` is not a boolean
    allowed = "one of " + ", ".join(repr(o) for o in options)
    return (lambda v: any(v == o and type(v) is type(o) for o in options)), allowed


def _bool() -> tuple[Check, str]:
    return (lambda v: isinstance(v, bool)), "true or false"


def _prompt() -> tuple[Check, str]:
    return (lambda v: v is None or isinstance(v, str)), 'a string ("" for none) or null (the base model\'s own)'


def _nonempty_str() -> tuple[Check, str]:
    return (lambda v: isinstance(v, str) and v.strip() != ""), "a non-empty string"


SOURCE_NAME = re.compile(r"^\w[\w-]*$")  # a DVC stage-name key: ingest@NAME


def _source_map() -> tuple[Check, str]:
    return (
        lambda v: (
            isinstance(v, dict)
            and len(v) > 0
            and all(
                isinstance(k, str) and SOURCE_NAME.match(k) and isinstance(f, str) and f.strip() for k, f in v.items()
            )
        )
    ), (
        "a non-empty mapping of source names (letters, digits, '_' and '-', no spaces) to folder paths, "
        "e.g. {D2: data/raw/D2/BanQA/data}"
    )


def param(check: tuple[Check, str]) -> Any:
    """A dataclass field validated by `check` (a predicate and the allowed values in words)."""
    return field(metadata={"check": check})


# One frozen dataclass per params.yaml section; every param of params.yaml is a field here.
@dataclass(frozen=True)
class DataParams:
    sources: dict[str, str] = param(_source_map())


@dataclass(frozen=True)
class PrepareParams:  # also read by ingest (on_error, max_passage_chars)
    num_samples: int = param(_int(1))
    seed: int = param(_int(0))
    on_error: str = param(_choice("fail", "skip"))
    max_passage_chars: int = param(_int(1))


@dataclass(frozen=True)
class SplitParams:
    val_fraction: float = param(_float_open(0.0, 1.0))
    test_fraction: float = param(_float_open(0.0, 1.0))
    seed: int = param(_int(0))
    group_by: str = param(_choice("passage", "none"))
    negatives_per_query: int = param(_int(1))  # the eval score (a Spearman over 1.0/0.0 pairs) needs negative pairs

    def problems(self) -> list[str]:
        if self.val_fraction + self.test_fraction >= 1:
            return ["params split.val_fraction + split.test_fraction must be below 1 (train needs the rest)"]
        return []


@dataclass(frozen=True)
class MineParams:
    negatives_from: str = param(_choice("base", "bm25"))  # the base model's top passages, or BM25's (DPR's recipe)
    relative_margin: float = param(_float_range(0.0, 1.0))
    range_max: int = param(_int(1))
    batch_size: int = param(_int(1))


@dataclass(frozen=True)
class ModelParams:  # also read by mine and evaluate (the prompts and sequence length the model runs with)
    name: str = param(_nonempty_str())
    max_seq_length: int = param(_int(8, 8192))
    pooling: str = param(_choice(*POOLING_MODES))
    trainable_layers: int = param(_int(1))
    query_prompt: str | None = param(_prompt())
    passage_prompt: str | None = param(_prompt())


@dataclass(frozen=True)
class TrainParams:  # hard_negatives and seed are also read by mine
    epochs: int = param(_int(1))
    batch_size: int = param(_int(1))
    learning_rate: float = param(_float_open(0.0))
    warmup_steps: int | None = param(_or_null(_int(0)))
    warmup_ratio: float | None = param(_or_null(_float_range(0.0, 1.0)))
    loss: str = param(_choice("mnrl", "cached_mnrl"))
    mini_batch_size: int = param(_int(1))
    batch_sampler: str = param(_choice("no_duplicates", "plain"))
    hard_negatives: int = param(_int(0))
    positive_window: str = param(_choice("truncate", "answer"))  # answer: a long positive's window holding the answer
    evals_per_epoch: int = param(_int(1))
    seed: int = param(_int(0))
    select: str = param(_choice("last", "best"))
    precision: str = param(_choice("auto", "fp32", "bf16", "fp16"))
    cache_frozen: bool = param(_bool())
    cache_max_mb: int = param(_int(0))
    processes: int = param(_int(1))

    def problems(self) -> list[str]:
        if (self.warmup_steps is None) == (self.warmup_ratio is None):
            return ["set exactly one of train.warmup_steps and train.warmup_ratio (the other null)"]
        return []


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = param(_int(1))
    bootstrap_samples: int = param(_int(0))
    seed: int = param(_int(0))


@dataclass(frozen=True)
class ExportParams:
    vocab: str = param(_choice("bengali_latin", "full"))  # bengali_latin: pieces of ASCII, Bengali, corpus chars
    quantize: str = param(_choice("int8", "fp32"))


@dataclass(frozen=True)
class IndexParams:
    batch_size: int = param(_int(1))  # passages per encoder call
    approximate_above: int = param(_int(0))  # more passages than this: also an approximate (faiss IVF) index
    nlist: int = param(_int(0))  # the approximate index's lists; 0 = 2 * sqrt(passages)
    nprobe: int = param(_int(1))  # lists scanned per question: more = better recall, slower


@dataclass(frozen=True)
class RetrievalParams:  # read by train (windows), evaluate, index; search and serve read the index manifest
    mode: str = param(_choice("hybrid", "dense", "bm25"))  # search and serve's default ranking
    fusion: str = param(_choice("zscore", "rrf"))
    dense_weight: float = param(_float_closed(0.0, 1.0))
    rrf_k: int = param(_int(1))
    candidates: int = param(_int(1))  # per retriever, fused (hybrid)
    window_tokens: int | None = param(_or_null(_int(0)))  # None: what model.max_seq_length leaves; 0: no windows
    window_overlap: int = param(_int(0))
    bm25_k1: float = param(_float_open(0.0))
    bm25_b: float = param(_float_closed(0.0, 1.0))
    bm25_stopwords: bool = param(_bool())
    bm25_stem: bool = param(_bool())


@dataclass(frozen=True)
class RerankerParams:  # train_reranker; evaluate, index and search read the re-ranking ones (top_k, weight, default)
    backbone: str = param(_nonempty_str())  # base: models/base | a local folder of a BERT-style encoder
    layers: int = param(_int(0))  # the backbone's first N transformer layers are kept (0: all)
    trainable_layers: int = param(_int(0))  # layers below the last N frozen (0: all trainable)
    max_length: int = param(_int(16, 8192))  # question + window pieces read together
    negatives: int = param(_int(1))  # hard negatives per training question
    negatives_from: str = param(_choice("bm25", "hybrid"))  # hybrid: the base model fused with BM25
    loss: str = param(_choice("bce", "mnrl"))
    epochs: int = param(_int(1))
    batch_size: int = param(_int(1))
    learning_rate: float = param(_float_open(0.0))
    warmup_ratio: float = param(_float_range(0.0, 1.0))
    max_questions: int = param(_int(0))  # 0: every training question; N: a seeded sample of N
    val_questions: int = param(_int(0))  # validation questions of the in-training MRR@10 (0: all)
    top_k: int = param(_int(1, 100))  # first-stage passages re-ranked
    weight: float = param(_float_closed(0.0, 1.0))  # the re-ranker's weight against the first stage (z-scores)
    default: bool = param(_bool())  # search and serve re-rank unless told otherwise
    seed: int = param(_int(0))


@dataclass(frozen=True)
class Params:
    """The sections a stage asked for (the others stay None: a stage never reads what it did not ask for)."""

    data: DataParams | None = None
    prepare: PrepareParams | None = None
    split: SplitParams | None = None
    mine: MineParams | None = None
    model: ModelParams | None = None
    train: TrainParams | None = None
    evaluate: EvaluateParams | None = None
    export: ExportParams | None = None
    index: IndexParams | None = None
    retrieval: RetrievalParams | None = None
    reranker: RerankerParams | None = None

    def as_dict(self) -> dict[str, dict]:
        """The loaded sections as plain dicts (for JSON: run keys, run records, model cards)."""
        return {name: asdict(value) for name, value in vars(self).items() if value is not None}


SECTIONS = {
    "data": DataParams,
    "prepare": PrepareParams,
    "split": SplitParams,
    "mine": MineParams,
    "model": ModelParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "export": ExportParams,
    "index": IndexParams,
    "retrieval": RetrievalParams,
    "reranker": RerankerParams,
}
# old spellings of values, refused with the new one named: (section, param) -> {old: new}
RENAMED_VALUES = {("train", "batch_sampler"): {"batch_sampler": "plain"}}


def load_params(path: str | Path = PARAMS_FILE, sections: tuple[str, ...] | None = None) -> Params:
    """Load params.yaml, validate the named sections (all when None) and return them typed; UserError on any problem."""
    path = Path(path)
    raw = read_raw_params(path)
    wanted = sections or tuple(SECTIONS)
    if sections is None:
        unknown = sorted(set(raw) - set(SECTIONS), key=str)
        if unknown:
            raise UserError(
                f"{path}: unknown section(s) {', '.join(map(str, unknown))}",
                fix=f"the sections are {', '.join(SECTIONS)}; remove or rename the others",
            )
    loaded = {section: read_section(raw, section, path) for section in wanted}
    for value in loaded.values():
        for message in getattr(value, "problems", list)():
            raise UserError(f"{path}: {message}")
    return Params(**loaded)


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


def read_section(raw: dict, section: str, path: Path | str = PARAMS_FILE) -> Any:
    """One section as its dataclass; the error names the param and its allowed values."""
    cls = SECTIONS[section]
    values = raw.get(section)
    if not isinstance(values, dict):
        raise UserError(f"{path}: section '{section}' is missing", fix=f"add a '{section}:' section")
    for f in fields(cls):
        check, allowed = f.metadata["check"]
        if f.name not in values:
            raise UserError(f"{path}: param {section}.{f.name} is missing; it must be {allowed}")
        value = values[f.name]
        renamed = RENAMED_VALUES.get((section, f.name), {})
        if isinstance(value, str) and value in renamed:
            raise UserError(
                f"{path}: param {section}.{f.name} = {value!r} was renamed",
                fix=f"write {section}.{f.name}: {renamed[value]}",
            )
        if not check(value):
            raise UserError(f"{path}: param {section}.{f.name} = {value!r} is invalid; it must be {allowed}")
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise UserError(
            f"{path}: unknown param(s) {', '.join(f'{section}.{u}' for u in unknown)}",
            fix=f"known params of '{section}': {', '.join(names)}",
        )
    return cls(**{name: values[name] for name in names})


def check_sources_exist(sources: dict[str, str], params_path: str | Path = PARAMS_FILE) -> None:
    """Every folder of data.sources must exist and be a folder; the error names the params file it came from."""
    for name, folder in sources.items():
        if not Path(folder).is_dir():
            raise UserError(
                f"{params_path}: param data.sources.{name} = '{folder}' is not an existing folder",
                fix="point it at a folder of SQuAD-style JSON, JSON Lines or CSV/TSV files",
            )
