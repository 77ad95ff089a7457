"""Commands and throw-away repositories for the tests: subprocess environment, `dvc`/`git`/`banglasim` runners,
a committed git+DVC copy of this repository with small params, DVCLive series readers, the tiny test model.

Imported as `from repo_helpers import dvc, make_repo_copy` (pyproject.toml puts tests/helpers on sys.path).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from banglasim.export.vocab import json_strings

from data_helpers import REPO_ROOT, edit_params

VENV_BIN = Path(sys.executable).parent
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = 32


def tool_env(cwd: Path | None = None) -> dict[str, str]:
    """Environment for subprocesses: the venv's bin first on PATH, the hub offline, quiet tokenizers.

    In a repo copy, its own src/ goes first on PYTHONPATH, so the code that runs is the code DVC hashed
    (the venv's editable install points at the main checkout).
    """
    env = dict(os.environ)
    if cwd is not None and (Path(cwd) / "src" / "banglasim").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(cwd) / "src"), os.environ.get("PYTHONPATH")]))
    env["PATH"] = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    env.pop("BANGLASIM_KILL_AT", None)
    return env


def run_cmd(
    args: list[str], cwd: Path, check: bool = True, timeout: float = 900, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run a command in `cwd` with tool_env() (plus `env`); on failure show its output in the assertion message."""
    proc = subprocess.run(
        args, cwd=cwd, env={**tool_env(cwd), **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def dvc(*args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_cmd([str(VENV_BIN / "dvc"), *args], cwd=cwd, check=check, env=env)


def banglasim(
    *args: str, cwd: Path, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return run_cmd([sys.executable, "-m", "banglasim", *args], cwd=cwd, check=check, env=env)


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_cmd(["git", *args], cwd=cwd)


def sample_chars() -> list[str]:
    """Every distinct non-space character of the sample data's qa.json files, sorted."""
    texts: list[str] = []
    for path in sorted((REPO_ROOT / "data/raw/sample").rglob("qa.json")):
        json_strings(json.loads(path.read_text(encoding="utf-8")), texts)
    return sorted({ch for text in texts for ch in text if not ch.isspace()})


def build_tiny_model(root: Path) -> Path:
    """A 4-layer, 32-dim random BERT with a character WordPiece vocab, saved as a sentence-transformers folder
    under `root`; returns the folder."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    hf_dir, st_dir = root / "hf", root / "st"
    hf_dir.mkdir(parents=True)
    chars = sample_chars()
    vocab = SPECIAL_TOKENS + chars + ["##" + ch for ch in chars]
    vocab_file = root / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(hf_dir)
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(vocab)}, do_lower_case=False)
    tokenizer.save_pretrained(hf_dir)
    shutil.copy(vocab_file, hf_dir / "vocab.txt")

    model = SentenceTransformer(
        modules=[Transformer(str(hf_dir), max_seq_length=64), Pooling(HIDDEN, "mean")], device="cpu"
    )
    model.save(str(st_dir))
    return st_dir


def _repo_files() -> list[str]:
    """Git-tracked files plus not-yet-added source files (src/ is edited concurrently)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    files = {f for f in tracked.decode().split("\0") if f}
    new_src = subprocess.run(
        ["git", "ls-files", "-z", "--others", "--exclude-standard", "src"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    files |= {f for f in new_src.decode().split("\0") if f}
    return sorted(f for f in files if (REPO_ROOT / f).is_file())


def use_small_params(repo: Path, model_dir: Path) -> None:
    """The repository's params with the tiny model and a small, fast run."""
    edit_params(
        repo,
        model__name=str(model_dir),
        model__max_seq_length=64,
        train__batch_size=8,
        train__warmup_steps=2,
        train__warmup_ratio=None,
        train__learning_rate=1e-3,
        prepare__num_samples=240,
        model__trainable_layers=2,
        evaluate__bootstrap_samples=50,
        reranker__layers=2,
        reranker__max_length=64,
        reranker__batch_size=8,
        reranker__val_questions=10,
        reranker__top_k=5,
    )


def make_repo_copy(dest: Path, model_dir: Path) -> Path:
    """Copy the repository's files into `dest`, write the small params, commit them in a fresh git repo."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in _repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    use_small_params(dest, model_dir)
    git("init", "-q", cwd=dest)
    git("config", "user.name", "Test", cwd=dest)
    git("config", "user.email", "test@example.invalid", cwd=dest)
    git("config", "commit.gpgsign", "false", cwd=dest)
    git("add", "-A", cwd=dest)
    git("commit", "-qm", "init", cwd=dest)
    return dest


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Rows of a DVCLive .tsv series as dicts of raw strings."""
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))
