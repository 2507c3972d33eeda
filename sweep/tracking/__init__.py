"""MLflow, written by the driver alone: the store and parent run, the trial-run writer (its records, its
MLflow calls, its thread), the Tune callback, retry."""
