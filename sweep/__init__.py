"""Driver side of regsweep: config, search space, Tuner wiring, summary and the CLI.

Nothing here imports TensorFlow or starts Ray at import time.
"""
