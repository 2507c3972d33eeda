"""The reaches into the private internals of Ray and Optuna, one module per library, each pinned by a test
that names the library and its version when an upgrade moves what it reaches for."""
