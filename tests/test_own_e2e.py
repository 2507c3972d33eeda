"""One sweep of a user's own model on the user's own npz, through ``python -m sweep.launch``, logged
to a real MLflow server over HTTP: the module is found in the working directory, every trial logs
its params, metrics, the layers its regularizer landed on, and a model that loads and predicts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cli import launch
from tests.servers import mlflow_server
from trainables import names

#: A whole sweep on a real server (about 2 minutes): the one-ReLU model's trials also run in the
#: default suite (tests/test_own_relu_shapes.py).
pytestmark = pytest.mark.slow

SWEEP = "own-model"
EXPERIMENT = "own-model-e2e"
N_TRIALS = 3
EPOCHS = 2
MODEL_FILE = '''
import keras
from keras import layers


def build():
    inputs = keras.Input(shape=(64,), name="features")
    x = layers.Dense(32, name="hidden1")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)  # its only ReLU: every trial used to error at epoch 0
    x = layers.Dropout(0.1, name="drop")(x)
    x = layers.Dense(16, activation="tanh", name="hidden2")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax", name="head")(x))
'''


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """(completed process, client, parent run, child runs, server uri) of one sweep."""
    from mlflow.tracking import MlflowClient
    from sklearn.datasets import load_digits

    root = tmp_path_factory.mktemp("own")
    (root / "own_mlp.py").write_text(MODEL_FILE)
    digits = load_digits()
    np.savez(root / "vectors.npz", x_train=(digits.data / 16.0).astype("float32"), y_train=digits.target)
    with mlflow_server(root / "server") as uri:
        proc = launch(root, "model=own_mlp:build", "data=npz", "data.path=vectors.npz", "regularize.exclude=[head]",
                      f"search.num_samples={N_TRIALS}", f"train.epochs={EPOCHS}", "train.batch_size=64",
                      "scheduler=fifo", "search.confirm_seeds=0", f"tracking.uri={uri}",
                      f"tracking.experiment={EXPERIMENT}", f"name={SWEEP}")
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        client = MlflowClient(tracking_uri=uri)
        runs = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id])
        (parent,) = [r for r in runs if r.data.tags.get(names.TAG_ROLE) == names.ROLE_PARENT]
        children = [r for r in runs if r.data.tags.get(names.TAG_PARENT_RUN)]
        yield proc, client, parent, children, uri


def test_the_summary_shows_the_model_and_its_regularized_layers(swept):
    proc = swept[0]
    assert "data vectors.npz: train 1150, val 287, test 360, 10 classes, examples of shape (64,)" in proc.stdout
    line = "model own_mlp:build: the regularizer goes on 2 of its 3 weight layers (hidden1, hidden2)"
    assert proc.stdout.count(line) == 2, "said before the trials and in the summary"


def test_the_parent_and_every_child_list_the_regularized_layers(swept):
    _, _, parent, children, _ = swept
    assert parent.data.params["model"] == "own_mlp:build" and parent.data.params["regularize.exclude"] == '["head"]'
    assert parent.data.params[names.REGULARIZED_LAYERS] == "hidden1,hidden2"
    assert parent.data.params["model.compiled_by"] == "regsweep"
    assert len(children) == N_TRIALS
    for child in children:
        p = child.data.params
        assert p[names.MODEL] == "own_mlp:build"
        expected = "none" if p[names.REGULARIZER] == names.NONE else "hidden1,hidden2"
        assert p[names.REGULARIZED_LAYERS] == expected
    assert {c.data.params[names.REGULARIZER] for c in children} >= {names.NONE}


def test_every_child_has_its_epochs_test_figures_and_per_layer_sparsity(swept):
    _, client, _, children, _ = swept
    for child in children:
        metrics = child.data.metrics
        for key in (names.VAL_ACCURACY, names.TEST_ACCURACY, names.SPARSITY, "sparsity/hidden1", "sparsity/head",
                    names.ACTIVATION_SPARSITY):
            assert key in metrics, key
        assert 0.0 <= metrics[names.ACTIVATION_SPARSITY] <= 1.0, "the one ReLU layer's zeros are counted"
        history = client.get_metric_history(child.info.run_id, names.VAL_ACCURACY)
        assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
        assert child.data.tags[names.TAG_STATE] == names.STATE_COMPLETED


def test_every_logged_model_loads_and_predicts_class_probabilities_with_its_penalty(swept):
    import mlflow

    _, _, _, children, uri = swept
    mlflow.set_tracking_uri(uri)
    x = np.random.default_rng(0).random((4, 64)).astype("float32")
    for child in children:
        model = mlflow.keras.load_model(f"runs:/{child.info.run_id}/{names.MODEL_NAME}")
        probs = model.predict(x, verbose=0)
        assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        penalized = child.data.params[names.REGULARIZER] != names.NONE
        layers = {layer.name: layer for layer in model.layers}
        assert layers["head"].kernel_regularizer is None, "excluded"
        placement = child.data.params.get(names.PLACEMENT, "")
        arg = "activity_regularizer" if placement == names.ACTIVITY else (
            "bias_regularizer" if placement == names.BIAS else "kernel_regularizer")
        assert (getattr(layers["hidden1"], arg) is not None) == penalized
