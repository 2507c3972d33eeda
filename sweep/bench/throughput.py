"""Training throughput of one trial's model per precision, and of several trials sharing one device.

``python -m sweep.bench throughput`` answers two questions a GPU user asks before a sweep:
does ``train.precision=mixed_float16`` or ``mixed_bfloat16`` train (finite loss, penalties included)
and how much faster is it; and how many trials should share one GPU (``cluster.gpus_per_trial``
below 1). Each trial is its own process, as under Ray: it builds the trial model the sweep builds
(``trainables.model.reusable.trial_model``, the seed CNN with tunable penalties), trains one warm-up
epoch (compilation), waits until every process of its group is warm, then times one epoch. The
aggregate is all images of the timed epochs over the group's wall time.

It runs on whatever backend Keras is set to (``KERAS_BACKEND``), so the same script measures
TensorFlow here and JAX where only JAX has the GPU. Data are random EMNIST-shaped images: speed does
not depend on the labels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

DEFAULT_PRECISIONS = "float32,mixed_float16,mixed_bfloat16"
#: (regularizer, placement, lambda): a kernel and an activity penalty, the two code paths under mixed precision.
CONFIGS = (("l2", "kernel", 1e-4), ("l1", "activity", 1e-4))


def add_parser(sub: Any) -> None:
    """Register ``throughput`` on the bench command line."""
    p = sub.add_parser("throughput", help="images/s of one trial per precision, and of N trials sharing a device")
    p.add_argument("--precisions", default=DEFAULT_PRECISIONS)
    p.add_argument("--concurrency", default="1,2,4", help="trials sharing the device at once")
    p.add_argument("--examples", type=int, default=112_800, help="training images per epoch (EMNIST balanced: 112,800)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--classes", type=int, default=47)
    p.add_argument("--out", default="bench-results/throughput.json")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Every precision alone, then the first precision that trained at each concurrency; print and save."""
    rows: list[dict[str, Any]] = []
    for precision in args.precisions.split(","):
        for reg, placement, lam in CONFIGS:
            rows.append(_group(args, precision, reg, placement, lam, 1))
    fastest = max((r for r in rows if r["finite"]), key=lambda r: r["images_per_s"], default=None)
    if fastest is not None:
        for n in (int(c) for c in args.concurrency.split(",")):
            if n > 1:
                rows.append(_group(args, fastest["precision"], "l2", "kernel", 1e-4, n))
    base = {r["precision"]: r["images_per_s"] for r in rows if r["trials"] == 1 and r["placement"] == "kernel"}
    print(f"{'precision':<16}{'penalty':<14}{'trials':>7}{'images/s':>12}{'vs float32':>11}{'loss':>10}{'finite':>8}")
    for r in rows:
        ratio = r["images_per_s"] / base["float32"] if base.get("float32") else float("nan")
        print(f"{r['precision']:<16}{r['penalty']:<14}{r['trials']:>7}{r['images_per_s']:>12,.0f}"
              f"{ratio:>10.2f}x{r['loss']:>10.4f}{str(r['finite']):>8}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "rows": rows}, indent=1))
    return 0 if all(r["finite"] for r in rows) else 1


def _group(args: argparse.Namespace, precision: str, reg: str, placement: str, lam: float, n: int) -> dict[str, Any]:
    """Start ``n`` trial processes together; each times one epoch once all are warm."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen([sys.executable, "-m", "sweep.bench.throughput", "--worker", json.dumps({
            "precision": precision, "reg": reg, "placement": placement, "lam": lam, "n": n, "rank": i,
            "dir": tmp, "examples": args.examples, "batch_size": args.batch_size, "classes": args.classes})])
            for i in range(n)]
        for p in procs:
            p.wait()
        results = [json.loads(f.read_text()) for f in sorted(Path(tmp).glob("result-*.json"))]
    if len(results) < n:
        return {"precision": precision, "penalty": f"{reg} {placement}", "placement": placement, "trials": n,
                "images_per_s": 0.0, "loss": float("nan"), "finite": False}
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    loss = max(r["loss"] for r in results)
    return {"precision": precision, "penalty": f"{reg} {placement}", "placement": placement, "trials": n,
            "images_per_s": n * args.examples / wall, "loss": loss, "finite": loss == loss and loss < float("inf")}


def _worker(spec: dict[str, Any]) -> None:
    """One trial: build, warm up, wait for the group, time one epoch, write the result."""
    import keras
    import numpy as np

    from trainables.model.regularizers import RegularizerSpec
    from trainables.model.reusable import trial_model
    from trainables.model.source import ModelSource

    rng = np.random.default_rng(spec["rank"])
    x = rng.random((spec["examples"], 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, spec["classes"], spec["examples"])
    keras.mixed_precision.set_global_policy(spec["precision"])
    keras.utils.set_random_seed(spec["rank"])
    model = trial_model(ModelSource(n_classes=spec["classes"]),
                        RegularizerSpec(spec["reg"], spec["placement"], spec["lam"]), spec["precision"])
    model.fit(x, y, batch_size=spec["batch_size"], epochs=1, verbose=0)
    folder = Path(spec["dir"])
    (folder / f"ready-{spec['rank']}").touch()
    while len(list(folder.glob("ready-*"))) < spec["n"]:
        time.sleep(0.01)
    start = time.time()
    history = model.fit(x, y, batch_size=spec["batch_size"], epochs=1, verbose=0).history
    end = time.time()
    (folder / f"result-{spec['rank']}.json").write_text(
        json.dumps({"start": start, "end": end, "loss": float(history["loss"][-1])}))


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry (``python -m sweep.bench.throughput``), needing only Keras and a backend."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        _worker(json.loads(argv[1]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m sweep.bench.throughput")
    add_parser(parser.add_subparsers(dest="bench", required=True))
    args = parser.parse_args(["throughput", *argv])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
