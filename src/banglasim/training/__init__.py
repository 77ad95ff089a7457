"""The fine-tune: the train stage, the trainer's inputs and loss, callbacks (evaluation schedule, DVCLive),
readable progress, precision choice and the frozen-prefix cache.
"""
