"""The datasets: the built-in ones (EMNIST, digits, synthetic) and the user's own arrays."""
