"""One place that imports TensorFlow and prepares it for a trial process.

GPU memory growth must be set before the first TensorFlow op so that several trials can share one
GPU; thread pools must be sized before TensorFlow initializes so that concurrent CPU trials do not
oversubscribe the cores Ray gave them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

_prepared = False


def import_tensorflow_quietly() -> Any:
    """Import TensorFlow with its C++ start-up lines kept off the terminal.

    TensorFlow writes them to file descriptor 2 before its logging is set up, whatever
    TF_CPP_MIN_LOG_LEVEL says; in the driver they would bury a one-line data error.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_to_log():
        import tensorflow as tf
    return tf


#: Set by the launcher's compact console: the file the driver's TensorFlow start-up lines go to.
QUIET_ENV = "REGSWEEP_QUIET_STDERR_TO"


@contextlib.contextmanager
def stderr_to_log(path: str | None = None) -> Iterator[None]:
    """File descriptor 2 into ``path`` (default ``$REGSWEEP_QUIET_STDERR_TO``, or nowhere) for the
    block: TensorFlow's and Ray's C++ lines (CUDA probing, GCS retries) bypass Python's logging."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path or os.environ.get(QUIET_ENV) or os.devnull, "a") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def prepare_tensorflow(threads: int | None = None) -> Any:
    """Import TensorFlow once per process, set memory growth and thread counts, return ``tf``."""
    global _prepared
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if _prepared:
        return tf
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # TensorFlow already initialized in this process
            pass
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(int(threads))
            tf.config.threading.set_inter_op_parallelism_threads(max(1, int(threads)))
        except RuntimeError:
            pass
    _prepared = True
    return tf


def driver_tensorflow() -> Any:
    """TensorFlow for the driver, which only loads finished models to log them: quiet, on the CPU
    (the GPUs belong to the trials), one thread, no progress bars."""
    tf = import_tensorflow_quietly()
    import keras

    try:
        with stderr_to_log():  # the device probe prints cuInit's failure where there is no GPU
            tf.config.set_visible_devices([], "GPU")
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized in this process
        pass
    tf.get_logger().setLevel("ERROR")
    keras.utils.disable_interactive_logging()
    return tf
