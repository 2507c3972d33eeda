"""MLflow, written by the driver alone: the store and parent run, the trial-run writer, the Tune callback, retry."""
