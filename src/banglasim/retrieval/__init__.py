"""Ranking passages for questions, shared by train, evaluate, index, search and serve: the Bengali keyword
analyser and BM25 index (lexical.py), passage windows for the dense side (windows.py), their fusion (fusion.py).
"""
