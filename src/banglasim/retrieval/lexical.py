"""BM25 over a Bengali analyser: the keyword engine every figure faces, and the lexical half of hybrid search.

The analyser does what a search-engine user expects of Bengali: Unicode NFC, khanda ta written as ta +
hasant + ZWJ folded to ৎ, zero-width characters (ZWJ, ZWNJ, ZWSP, BOM, soft hyphen) removed, Bengali digits
read as ASCII digits, lower case; tokens are runs of Bengali letters and marks or of ASCII letters and
digits, so punctuation (the dari `।` included) separates words. Stop words and a light suffix stemmer are
options (`retrieval.bm25_stopwords`, `retrieval.bm25_stem`), on only where validation shows they help
(docs/search.md). Scoring and the index files are the `bm25s` package's (Lucene's BM25 variant, k1 and b
from params), saved into the index folder and read whole into memory by search (a file rewritten under a
running server cannot change its answers).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
DIGITS = {0x09E6 + i: ord("0") + i for i in range(10)}
TOKEN = re.compile(r"[\u0980-\u09e5\u09f0-\u09ff]+|[a-z0-9]+")
KHANDA_TA = ("\u09a4\u09cd\u200d", "\u09ce")  # ত্‍ -> ৎ (the older spelling of the same letter)

# common Bengali function words (conjunctions, postpositions, pronouns, copulas, question words)
STOPWORDS = frozenset(
    """এবং ও আর কিন্তু অথবা বা যে যা যিনি যার এই এ সেই সে তা তার তাঁর তাদের তিনি তারা এর এটি এটা ওই
    একটি এক হয় হয়েছে হয়েছিল হয়ে হতে হবে ছিল ছিলেন আছে করে করা করেন করেছে করেছিলেন থেকে জন্য সাথে সঙ্গে
    দিয়ে নিয়ে মধ্যে পর পরে আগে না নয় নি কি কী কে কোন কোনো কত কবে কোথায় কেন কিভাবে কীভাবে কার কাকে
    নাম বলে বলা হলো হল""".split()
)
# inflections stripped by the light stemmer, longest first; a stem keeps at least MIN_STEM characters
SUFFIXES = tuple(
    sorted(
        """গুলোর গুলির গুলো গুলি দেরকে দের কে রা েরা ের য়ের র টির টার টি টা খানা খানি তে েতে য় ে""".split(),
        key=len,
        reverse=True,
    )
)
MIN_STEM = 2


@dataclass(frozen=True)
class Analyzer:
    """How text becomes index terms (recorded in the index manifest, so search analyses questions the same way)."""

    stopwords: bool = False
    stem: bool = False

    def terms(self, text: str) -> list[str]:
        """The index terms of a text, in order (repeats kept: BM25 counts them)."""
        text = unicodedata.normalize("NFC", text).replace(*KHANDA_TA).translate(INVISIBLE).translate(DIGITS).lower()
        tokens = TOKEN.findall(text)
        if self.stopwords:
            tokens = [t for t in tokens if t not in _STOPWORDS_NFC]
        if self.stem:
            tokens = [stem(t) for t in tokens]
        return tokens

    def as_dict(self) -> dict:
        return asdict(self)


_STOPWORDS_NFC = frozenset(unicodedata.normalize("NFC", w) for w in STOPWORDS)
_SUFFIXES_NFC = tuple(unicodedata.normalize("NFC", s) for s in SUFFIXES)


def stem(token: str) -> str:
    """The token without its longest inflection suffix, if enough of it is left."""
    for suffix in _SUFFIXES_NFC:
        if token.endswith(suffix) and len(token) - len(suffix) >= MIN_STEM:
            return token[: -len(suffix)]
    return token


@dataclass(frozen=True)
class Bm25Settings:  # the defaults are params.yaml's (chosen on validation: docs/search.md)
    k1: float = 0.9
    b: float = 0.5
    analyzer: Analyzer = Analyzer(stopwords=True)

    def as_dict(self) -> dict:
        return {"k1": self.k1, "b": self.b, "analyzer": self.analyzer.as_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> Bm25Settings:
        return cls(float(values["k1"]), float(values["b"]), Analyzer(**values["analyzer"]))


class LexicalIndex:
    """A BM25 index of passages (row i = passage i): `scores(question)` -> one score per passage, or None when the
    question has no term the analyser keeps (then nothing lexical can rank it)."""

    def __init__(self, retriever, settings: Bm25Settings) -> None:
        self.retriever = retriever
        self.settings = settings

    @classmethod
    def build(cls, texts: list[str], settings: Bm25Settings) -> LexicalIndex:
        """Index the texts; terms become ids passage by passage (a list of ids shares the vocabulary's int
        objects: 8 bytes a term instead of a string each, what makes a million passages fit in memory)."""
        import bm25s

        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(t, len(vocab)) for t in settings.analyzer.terms(text)] for text in texts]
        retriever = bm25s.BM25(k1=settings.k1, b=settings.b, method="lucene")
        retriever.index((ids, vocab), show_progress=False)
        return cls(retriever, settings)

    def __len__(self) -> int:
        return int(self.retriever.scores["num_docs"])

    def vocabulary_size(self) -> int:
        return len(self.retriever.vocab_dict)

    def term_ids(self, question: str) -> list[int]:
        """The ids of the question's terms that occur in the index (unknown terms score nothing anyway)."""
        vocab = self.retriever.vocab_dict
        return [vocab[t] for t in self.settings.analyzer.terms(question) if t in vocab and t != ""]

    def scores(self, question: str) -> np.ndarray | None:
        """BM25 score of every passage for the question (float32), or None when no term of it occurs in any
        passage (no term the analyser keeps, or none the index holds): then BM25 cannot rank it."""
        ids = self.term_ids(question)
        if not ids:
            return None
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, settings: Bm25Settings, mmap: bool = False) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25.load(str(folder), mmap=mmap, show_progress=False, verbosity=0)
        return cls(retriever, settings)
