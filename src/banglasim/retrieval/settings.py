"""The retrieval section of params.yaml as the settings objects of lexical.py, windows.py and fusion.py."""

from __future__ import annotations

from banglasim.config.params import RetrievalParams
from banglasim.retrieval.fusion import FusionSettings
from banglasim.retrieval.lexical import Analyzer, Bm25Settings
from banglasim.retrieval.windows import WindowSettings


def window_settings(cfg: RetrievalParams) -> WindowSettings:
    return WindowSettings(tokens=cfg.window_tokens, overlap=cfg.window_overlap)


def bm25_settings(cfg: RetrievalParams) -> Bm25Settings:
    return Bm25Settings(cfg.bm25_k1, cfg.bm25_b, Analyzer(stopwords=cfg.bm25_stopwords, stem=cfg.bm25_stem))


def fusion_settings(cfg: RetrievalParams) -> FusionSettings:
    return FusionSettings(cfg.fusion, cfg.dense_weight, cfg.rrf_k, cfg.candidates)
