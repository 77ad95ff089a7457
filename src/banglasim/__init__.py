"""Fine-tune Sentence Transformers for Bengali question-to-passage similarity, as a DVC pipeline."""

__version__ = "0.1.0"
