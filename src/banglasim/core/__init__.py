"""What every part needs and nothing else: the one user-facing error type, the exit-code wrapper,
and crash-safe (atomic) writes of files, folders and JSON Lines.
"""
