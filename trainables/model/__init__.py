"""The model side of a trial: the seed CNN, the user's model, regularizers put on its layers, reuse."""
