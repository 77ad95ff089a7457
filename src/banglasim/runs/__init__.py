"""What makes a training run safe to kill and rerun: the run key and checkpoints, the train lock, the atomic
publish of a run's outputs, the run record, the model card section, and the fault hooks tests kill at.
"""
