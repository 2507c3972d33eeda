"""The search phase: the Optuna space and sampler, the Tune searcher and scheduler wiring, trial states, priors."""
