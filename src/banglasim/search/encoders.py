"""The export as a search encoder: banglasim.export.runtime.OnnxEncoder (onnxruntime + tokenizers + numpy).

The export is identified by the SHA-256 of its manifest.json (which records the hash of model.onnx and how
it was made). Starting checks each file against the manifest's `files` map the cheap way (integrity.py:
sizes, small files hashed whole, big ones sampled) and that the tokenizer knows Bengali; `banglasim verify`
hashes every byte. A missing or damaged file is one UserError naming it and the stage that rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from banglasim.config.paths import EXPORT_DIR
from banglasim.core.errors import UserError
from banglasim.search.integrity import check_files_shape, quick_check

EXPORT_FILES = ("manifest.json", "model.onnx", "tokenizer.json")
TOKENIZER_PROBE = "বাংলাদেশের রাজধানী ঢাকা, question 2024"
UNKNOWN_TOKENS = frozenset({"[UNK]", "<unk>", "<UNK>", "[unk]"})


def _export_fix(export_dir: Path) -> str:
    return (
        "run `dvc repro export` (or `dvc checkout models/export`)"
        if Path(export_dir) == EXPORT_DIR
        else "pass --model an export folder written by the export stage, or rebuild it (dvc repro export)"
    )


def _damaged_fix(export_dir: Path) -> str:
    return _export_fix(export_dir).replace("run `dvc repro export`", "run `dvc repro -f export`")


def export_files(export_dir: Path, manifest: dict) -> tuple[dict[str, dict], str]:
    """The export's recorded files and the fix for a damaged one: its `files` map, or for an export made before
    that map, model.onnx's model_sha256 and the recorded sizes (then tokenizer.json's bytes are unchecked)."""
    export_dir, fix = Path(export_dir), _damaged_fix(export_dir)
    if "files" in manifest:
        files = check_files_shape(manifest["files"], export_dir / "manifest.json", fix)
        lacking = [name for name in EXPORT_FILES[1:] if name not in files]
        if lacking or files[EXPORT_FILES[1]]["sha256"] != manifest["model_sha256"]:
            what = f'no {", ".join(lacking)} in "files"' if lacking else "two different model.onnx hashes"
            raise UserError(f"{export_dir / 'manifest.json'}: damaged, {what}", fix=fix)
        return files, fix
    sizes = manifest.get("sizes") if isinstance(manifest.get("sizes"), dict) else {}

    def size(name: str) -> int | None:
        value = sizes.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    files = {name: {"size": size(name), "sha256": None} for name in (*EXPORT_FILES[1:], *sorted(sizes))}
    files[EXPORT_FILES[1]]["sha256"] = str(manifest["model_sha256"])
    return files, fix


def check_tokenizer(tokenizer, where: str, fix: str) -> None:
    """A UserError when a `tokenizers.Tokenizer` reads every word of a Bengali and English probe as its unknown
    token (a vocabulary-less fallback: every question would get the same meaningless answer)."""
    encoding = tokenizer.encode(TOKENIZER_PROBE)
    tokens = [t for t, special in zip(encoding.tokens, encoding.special_tokens_mask) if not special]
    if tokens and all(t in UNKNOWN_TOKENS for t in tokens):
        raise UserError(f"{where}: its tokenizer reads every word as unknown ({tokens[0]})", fix=fix)


def export_manifest(export_dir: Path) -> tuple[dict, str]:
    """The export's manifest and the SHA-256 of its bytes; a UserError naming the file when missing or damaged."""
    path = Path(export_dir) / "manifest.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: not found (no export)", fix=_export_fix(export_dir)) from None
    try:
        manifest = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: damaged, not JSON ({exc})", fix=_export_fix(export_dir)) from None
    if (
        not isinstance(manifest, dict)
        or not manifest.get("model_sha256")
        or not isinstance(manifest["model_sha256"], str)
    ):
        raise UserError(f"{path}: damaged, no model_sha256", fix=_export_fix(export_dir))
    return manifest, hashlib.sha256(raw).hexdigest()


class ExportEncoder:
    """The ONNX export through banglasim.export.runtime.OnnxEncoder (onnxruntime + tokenizers + numpy)."""

    def __init__(self, export_dir: Path) -> None:
        export_dir = Path(export_dir)
        self.manifest, self.key = export_manifest(export_dir)
        for name in EXPORT_FILES[1:]:
            if not (export_dir / name).is_file():
                raise UserError(f"{export_dir / name}: not found (incomplete export)", fix=_export_fix(export_dir))
        files, fix = export_files(export_dir, self.manifest)
        quick_check(export_dir, files, fix)
        from banglasim.export.runtime import OnnxEncoder

        try:
            self.runtime = OnnxEncoder(str(export_dir))
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - onnxruntime and tokenizers raise their own types for damaged files
            raise UserError(
                f"{export_dir}: the export could not be loaded: {type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:300] if str(exc) else ''}",
                fix=_damaged_fix(export_dir),
            ) from None
        check_tokenizer(self.runtime.tokenizer, str(export_dir / EXPORT_FILES[2]), _damaged_fix(export_dir))
        self.model_sha256 = str(self.manifest["model_sha256"])
        self.dim = int(self.manifest.get("dim", 0)) or None
        self.name = str(export_dir)

    def encode(self, texts: list[str], prompt_name: str) -> np.ndarray:
        return np.asarray(self.runtime.encode(texts, prompt_name), dtype=np.float32)

    def prompt(self, prompt_name: str) -> str:
        return self.runtime.prompt(prompt_name)

    def window_tokenizer(self):
        """(tokenizers.Tokenizer, max_seq_length) that passage windows are cut with."""
        return self.runtime.tokenizer, self.runtime.max_seq_length


def is_export(folder: Path) -> bool:
    return (Path(folder) / "model.onnx").exists() or (Path(folder) / "manifest.json").exists()
