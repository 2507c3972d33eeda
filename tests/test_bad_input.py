"""Bad input found at run time (unreachable cluster, missing or corrupt data): one line naming the
problem and the fix, exit code 2, and nothing started (no Ray state, no MLflow store, no results).
Bad config keys and values are covered in test_configs.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import launch, launch_env
from tests.servers import free_port


def assert_refused(proc, *phrases: str) -> str:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("regsweep: error: ") and "Fix:" in line, line
    for phrase in phrases:
        assert phrase in line, line
    return line


def assert_nothing_started(cwd: Path) -> None:
    for left in ("ray_results", "mlflow.db", "mlartifacts"):
        assert not (cwd / left).exists(), left
    assert not list((cwd / "outputs").glob("*/results.csv")) if (cwd / "outputs").exists() else True


def test_unreachable_cluster_address(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    proc = launch(tmp_path, "data=digits", f"cluster.address={address}", timeout=120)
    assert_refused(proc, f"cluster.address={address}", "ray start --head")
    assert_nothing_started(tmp_path)


@pytest.fixture
def keras_home(tmp_path) -> Path:
    home = tmp_path / "keras-home"
    (home / "datasets").mkdir(parents=True)
    return home


def test_missing_emnist_offline_says_where_to_put_the_file(tmp_path, keras_home):
    url = f"http://127.0.0.1:{free_port()}/matlab.zip"  # nothing listens: the download fails at once
    proc = launch(tmp_path, "data=emnist", f"data.url={url}", env=launch_env(KERAS_HOME=str(keras_home)),
                  timeout=120)
    assert_refused(proc, url, "matlab.zip", "data=digits")
    assert_nothing_started(tmp_path)


def test_corrupt_emnist_zip(tmp_path, keras_home):
    (keras_home / "datasets" / "matlab.zip").write_bytes(b"PK\x03\x04 truncated download")
    proc = launch(tmp_path, "data=emnist", "data.download=false", env=launch_env(KERAS_HOME=str(keras_home)),
                  timeout=120)
    assert_refused(proc, "not a valid zip")
    assert_nothing_started(tmp_path)


def test_corrupt_emnist_cache(tmp_path, keras_home):
    cache = keras_home / "datasets" / "regsweep"
    cache.mkdir()
    (cache / "emnist-balanced.npz").write_bytes(b"garbage, not an npz")
    proc = launch(tmp_path, "data=emnist", "data.download=false", env=launch_env(KERAS_HOME=str(keras_home)),
                  timeout=120)
    assert_refused(proc, "emnist-balanced.npz")
    assert_nothing_started(tmp_path)


def test_a_trial_bigger_than_any_node_is_refused_instead_of_pending_forever(tmp_path):
    proc = launch(tmp_path, "data=digits", "cluster.cpus_per_trial=64", timeout=300)
    assert_refused(proc, "cluster.cpus_per_trial=64", "largest Ray node")
    assert not list((tmp_path / "outputs").glob("*/results.csv")) if (tmp_path / "outputs").exists() else True


def test_fit_check_on_gpu_requests():
    from sweep.runtime.cluster import check_trial_fits
    from trainables.errors import UserError

    nodes = [{"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}}, {"Alive": False, "Resources": {"GPU": 8.0}}]
    check_trial_fits(nodes, 8, 1.0)
    with pytest.raises(UserError, match="gpus_per_trial=2"):
        check_trial_fits(nodes, 1, 2.0)


def test_credentials_in_the_tracking_uri_are_refused_and_never_printed(tmp_path):
    """They were logged as a param and in the command tag (readable by every MLflow user), printed
    twice, and echoed in the preflight's error line."""
    proc = launch(tmp_path, "data=digits", "tracking.uri=http://bob:s3cret-planted@127.0.0.1:5000", timeout=120)
    line = assert_refused(proc, "tracking.uri", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    assert "s3cret-planted" not in proc.stdout + proc.stderr, line
    assert_nothing_started(tmp_path)


@pytest.mark.parametrize("name", ["a-confirm", "a-confirm-2"])
def test_a_name_that_reaches_an_internal_experiment_name_is_refused(tmp_path, name):
    """``X-confirm`` shared a Ray experiment folder with sweep X's confirmation runs."""
    proc = launch(tmp_path, "data=digits", f"name={name}", timeout=120)
    assert_refused(proc, "name:", "-confirm")
    assert_nothing_started(tmp_path)


def test_a_flag_may_stand_between_overrides(tmp_path):
    proc = launch(tmp_path, "data=digits", "--cfg", "name=flagged", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "name: flagged" in proc.stdout and "name: digits" in proc.stdout


#: (overrides, key named in the line): values that gave a traceback and exit 1 (one key of each class:
#: every seed, fraction, path and URI key is covered)
TRACEBACKS_BEFORE = [
    (["search.points_to_evaluate=[{regularizer: l2, placement: kernel_bias, lambda: abc}]"],
     "search.points_to_evaluate[0]"),
    (["output_dir=/dev/null"], "output_dir"),
    (["output_dir=/dev/null/sub"], "output_dir"),
    (["cluster.storage_path=/dev/null/state"], "cluster.storage_path"),
    (["data.seed=-1"], "data.seed"),
    (["train.seed=-1"], "train.seed"),
    (["search.seed=-1"], "search.seed"),
    (["train.seed=4294967295"], "train.seed"),  # its confirmation seeds would pass 2**32 - 1
    (["data.val_split=0.9999"], "data.val_split"),
    (["data.val_split=0.999"], "data.val_split"),  # one training example: it started a sweep, exit 1
    (["data.val_split=0.6"], "data.val_split"),    # more held out than trained on
    (["cluster.storage_path=bogus://x"], "cluster.storage_path"),
    (["search.baseline=false", "search.regularizers=[none]"], "search.regularizers"),
]


@pytest.mark.parametrize("overrides,key", TRACEBACKS_BEFORE, ids=[" ".join(o) for o, _ in TRACEBACKS_BEFORE])
def test_bad_values_that_gave_tracebacks_are_one_line_with_exit_2(tmp_path, overrides, key):
    proc = launch(tmp_path, "data=digits", *overrides, timeout=180)
    assert_refused(proc, key)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_started(tmp_path)


def test_a_valid_zip_holding_a_corrupt_mat_file(tmp_path, keras_home):
    import zipfile

    with zipfile.ZipFile(keras_home / "datasets" / "matlab.zip", "w") as zf:
        zf.writestr("matlab/emnist-balanced.mat", b"MATLAB 5.0 MAT-file, but then nothing of the kind")
    proc = launch(tmp_path, "data=emnist", "data.download=false", env=launch_env(KERAS_HOME=str(keras_home)),
                  timeout=120)
    assert_refused(proc, "does not hold a readable matlab/emnist-balanced.mat")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert_nothing_started(tmp_path)
