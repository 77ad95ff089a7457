"""Data in and data out of the QA files: formats and validation, per-source ingest, merging (prepare),
the grouped train/validation/test split and hard-negative mining: one module per stage plus their helpers.
"""
