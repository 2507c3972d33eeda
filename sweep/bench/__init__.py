"""Benchmarks that compare regsweep with what a user would otherwise run (``python -m sweep.bench``).

- ``search``: the quality of the answer and the epochs it cost (``sweep.bench.search``);
- ``overhead``: the wall time of the same grid as a plain Keras loop, a stock Ray Tune script and
  regsweep, with where regsweep's fixed costs go (``sweep.bench.overhead``);
- ``scale``: the driver, searcher, scheduler and MLflow path with thousands of trivial trials
  (``sweep.bench.scale``);
- ``keepalive``: a tracking server's time per request on a kept-alive connection, which tells a
  server with the delayed-ACK stall of uvicorn's ``--workers N`` (``sweep.bench.keepalive``);
- ``suggest``: the searcher's time per suggestion offline as the study grows (``sweep.bench.suggest``);
- ``sparsity`` (or ``search --objectives val_accuracy,sparsity``): multi-objective sweeps, MOASHA
  against val-only ASHA at the same budget (``sweep.bench.sparsity``);
- ``throughput``: images/s of one trial per precision and of several trials sharing a device
  (``sweep.bench.throughput``);
- ``calibration`` and ``fidelity``: the verdict's false "helped" rate on real A/A trials, and how well
  early-stopping rungs predict the full budget's order (``sweep.bench.calibration``).
"""
