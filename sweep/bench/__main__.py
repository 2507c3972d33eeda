"""``python -m sweep.bench {search,overhead,scale,keepalive,suggest,calibration,fidelity,sparsity,throughput} [options]``: see ``sweep.bench``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the bench command line and run the chosen benchmark."""
    from sweep.bench import calibration, keepalive, overhead, scale, search, sparsity, suggest, throughput

    parser = argparse.ArgumentParser(prog="python -m sweep.bench",
                                     description="Benchmarks against a plain Keras loop and a stock Ray Tune script.")
    sub = parser.add_subparsers(dest="bench", required=True)
    for module in (search, overhead, scale, keepalive, suggest, calibration, sparsity, throughput):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
