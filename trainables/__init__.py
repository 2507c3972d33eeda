"""Worker side of regsweep: data, the seed CNN, regularizers, sparsity and the Ray Tune trainable.

Nothing here imports TensorFlow at import time; the modules that need it import it inside functions.
"""
