"""``python -m sweep.launch [--resume] [--cfg] [group=option ...] [key=value ...]``

Composes ``conf/`` with Hydra, validates it, and runs one sweep. Exit codes: 0 done, 1 no trial
produced a result or an unexpected failure, 2 a user error (bad config, missing data, unreachable
server; one line on stderr, nothing started), 130 interrupted.

Examples:
  python -m sweep.launch data=digits search.num_samples=8 train.epochs=4
  python -m sweep.launch preset=smoke
  python -m sweep.launch preset=article data=digits              # the article's 8 configs, no search
  python -m sweep.launch model=my_pkg.models:build data=npz data.path=arrays.npz
  python -m sweep.launch data=digits search.objectives=[val_accuracy,sparsity]
  python -m sweep.launch name=my-sweep resume=true      # continue after a crash
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from trainables.errors import SummaryNotLogged, UserError

PROG = "python -m sweep.launch"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, add_help=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Sweep Keras regularizers (none/L1/L2/elastic net x placement x lambda) "
                    "with Ray Tune, Optuna and ASHA.",
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help, the groups and the keys")
    p.add_argument("--cfg", action="store_true", help="print the composed config and exit")
    p.add_argument("--resume", action="store_true", help="same as resume=true (needs name=...)")
    p.add_argument("--verbose", action="store_true", help="same as console.verbose=true: Ray's full output")
    p.add_argument("overrides", nargs="*", help="Hydra overrides: group=option or dotted.key=value")
    return p


def _help_text() -> str:
    from omegaconf import OmegaConf

    from sweep.config.compose import CONF_DIR, compose_raw

    groups = []
    for group in sorted(d for d in CONF_DIR.iterdir() if d.is_dir()):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        groups.append(f"  {group.name:<10} {' | '.join(options)}")
    defaults = OmegaConf.to_yaml(compose_raw([]))
    return (_parser().format_help() + "\n" + (__doc__ or "").split("\n\n", 1)[1]
            + "\nconfig groups (group=option):\n" + "\n".join(groups)
            + "\n\nkeys and their defaults (override with dotted.key=value):\n" + defaults)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    launched = time.time()
    # intermixed: a flag may stand anywhere among the overrides (data=digits --verbose name=x)
    args = _parser().parse_intermixed_args(list(sys.argv[1:] if argv is None else argv))
    try:
        if args.help:
            print(_help_text())
            return 0
        from sweep.config.compose import load_config

        overrides = (list(args.overrides) + (["resume=true"] if args.resume else [])
                     + (["console.verbose=true"] if args.verbose else []))
        cfg = load_config(overrides)
        if args.cfg:
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
            return 0
        from sweep.runner import run_sweep
        from sweep.session import private_files

        with private_files():
            outcome = run_sweep(cfg, launched)
    except UserError as exc:
        print(f"regsweep: error: {exc}", file=sys.stderr)
        return 2
    except SummaryNotLogged as exc:
        print(f"regsweep: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nregsweep: interrupted; continue with the same command plus resume=true "
              "(and name=... if it was generated)", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _from_mlflow(exc):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"regsweep: error: the MLflow server refused a call after the preflight ({first}); what ran is "
              "kept. Fix: correct the server or the permission, then run the same command again (plus resume=true "
              "if its trials had started)",
              file=sys.stderr)
        return 1
    return 0 if outcome.best is not None else 1


def _from_mlflow(exc: BaseException) -> bool:
    """An ``MlflowException`` (MLflow is imported by then whenever one can be raised)."""
    mlflow_exceptions = sys.modules.get("mlflow.exceptions")
    return mlflow_exceptions is not None and isinstance(exc, mlflow_exceptions.MlflowException)


def exit_now(code: int) -> None:
    """Exit without tearing the interpreter down: everything is written and Ray is stopped by now,
    and unloading TensorFlow and MLflow would add seconds to every sweep."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
