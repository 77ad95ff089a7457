"""Answering questions: the index stage (index.py), `banglasim search` (query.py) and `banglasim serve` (serve.py)
over the ONNX export, or over a Sentence Transformers folder (st_encoder.py, the slow exact path).
"""
