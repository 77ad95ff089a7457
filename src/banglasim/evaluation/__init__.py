"""Measuring models: pure ranking metrics and bootstrap intervals, the Trainer's evaluator adapter,
the evaluate stage (base vs tuned on test and validation) and the training report.
"""
