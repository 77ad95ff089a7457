"""Base models: the registry of built-in ones, the one loading path (pooling, prompts, layer freezing),
folder digests, and the base_model stage that materialises model.name into models/base/.
"""
