"""Answering questions with a trained model: rank the passages of a corpus for a question,
with corpus embeddings cached on disk.
"""
