"""The search phase: the Optuna space and sampler, the Tune searcher and scheduler wiring, priors. A
trial's end state is decided in ``sweep.common.states``, which the report and the tracking share."""
