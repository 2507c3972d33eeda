"""Your own model: the regularizer lands on the right layers of any Sequential or functional model,
rebuilt from its config with the seeded weights kept, and the hook covers subclassed models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests import own_models
from trainables import names
from trainables.errors import ConfigError
from trainables.model.source import ModelSource, spec_maker
from trainables.model.regularizers import RegularizerSpec

LAM = 0.01
#: target -> (input shape, dtype, {layer: has a bias}) of the layers that must take the regularizer
CASES = {
    "mlp": ((12,), "float32", {"hidden1": True, "hidden2": True, "head": True}),
    "resnet_block": ((8, 8, 1), "float32", {"stem": True, "conv_a": True, "conv_b": False, "logits": True}),
    "embedding_head": ((6,), "int32", {"embed": False, "head": True}),
    "sequential_cnn": ((8, 8, 1), "float32", {"conv": True, "out": True}),
}


def source(name: str, **kwargs) -> ModelSource:
    shape, dtype, _ = CASES.get(name, CASES["mlp"])
    return ModelSource(target=f"tests.own_models:{name}", n_classes=own_models.N_CLASSES, input_shape=shape,
                       input_dtype=dtype, **kwargs)


def sample(name: str, n: int = 4) -> np.ndarray:
    shape, dtype, _ = CASES[name]
    rng = np.random.default_rng(0)
    return rng.integers(0, 20, size=(n, *shape)).astype(dtype) if dtype == "int32" else rng.normal(
        size=(n, *shape)).astype(dtype)


def weights_of(model, layer: str, attr: str):
    from trainables.model.rebuild import walk_layers

    found = {l.name: l for l in walk_layers(model)}[layer]
    return getattr(found, attr)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_regularizer_lands_on_every_supporting_layer_with_its_penalty_and_the_seeded_weights(name):
    import keras

    from trainables.model.rebuild import walk_layers

    src = source(name)
    keras.utils.set_random_seed(3)
    users_own = getattr(own_models, name)()  # what the user's function gives under the seed
    keras.utils.set_random_seed(3)
    fresh = src.fresh()
    spec = RegularizerSpec(names.L2, names.KERNEL_BIAS, LAM)
    model, table = src.regularized(spec_maker(spec), fresh=fresh)

    expected = CASES[name][2]
    assert list(table) == list(expected), "every layer with a weight matrix, in model order, and no other"
    for a, b, c in zip(users_own.weights, fresh.weights, model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
        np.testing.assert_array_equal(np.asarray(b), np.asarray(c))
    by_name = {layer.name: layer for layer in walk_layers(model)}
    for layer_name, layer in by_name.items():
        kernel_arg = "embeddings_regularizer" if layer_name == "embed" else "kernel_regularizer"
        got = getattr(layer, kernel_arg, None)
        assert (got is not None) == (layer_name in expected), layer_name
    penalty = 0.0
    for layer_name, has_bias in expected.items():
        kernel = weights_of(model, layer_name, "embeddings" if layer_name == "embed" else "kernel")
        penalty += LAM * float(np.sum(np.square(np.asarray(kernel))))
        if has_bias:
            penalty += LAM * float(np.sum(np.square(np.asarray(weights_of(model, layer_name, "bias")))))
    assert len(model.losses) == len(expected) + sum(expected.values())
    assert float(sum(float(v) for v in model.losses)) == pytest.approx(penalty, rel=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_activity_penalties_come_from_every_supporting_layer(name):
    src = source(name)
    model, table = src.regularized(spec_maker(RegularizerSpec(names.L1, names.ACTIVITY, LAM)))
    model(sample(name), training=False)
    assert len(model.losses) == len(table) and all(float(v) > 0 for v in model.losses)


def test_include_and_exclude_choose_layers_by_name_or_type():
    spec = spec_maker(RegularizerSpec(names.L2, names.KERNEL, LAM))
    assert list(source("resnet_block", include=("Conv2D",)).regularized(spec)[1]) == ["stem", "conv_a", "conv_b"]
    assert list(source("resnet_block", include=("Conv2D",), exclude=("stem",)).regularized(spec)[1]) == [
        "conv_a", "conv_b"]
    assert list(source("mlp", exclude=("head",)).regularized(spec)[1]) == ["hidden1", "hidden2"]
    model, table = source("mlp", include=("hidden2",)).regularized(spec)
    assert list(table) == ["hidden2"] and len(model.losses) == 1
    with pytest.raises(ConfigError, match=r"regularize.include: 'Dense9' is no layer name or layer type.*hidden1 \(Dense\)"):
        source("mlp", include=("Dense9",)).regularized(spec)


def test_a_subclassed_model_gets_one_error_that_points_to_the_hook():
    with pytest.raises(ConfigError) as err:
        source("subclassed").regularized(spec_maker(RegularizerSpec()))
    text = str(err.value)
    assert text.startswith("model: tests.own_models:subclassed returns a subclassed model (Tiny)")
    assert "`regularizers` parameter" in text and "\n" not in text


def test_the_hook_lets_a_subclassed_model_place_the_regularizers_itself():
    from trainables.model.reusable import trial_model

    src = source("hooked")
    assert src.uses_hook()
    model, table = src.regularized(spec_maker(RegularizerSpec(names.L2, names.KERNEL, LAM)))
    assert list(table) == [model.hidden.name], "only the layer the function gave regularizers"
    assert set(table[model.hidden.name]) == {"kernel"}, "this trial's placement"
    assert len(model.losses) == 1
    expected = LAM * float(np.sum(np.square(np.asarray(model.hidden.kernel))))
    assert float(model.losses[0]) == pytest.approx(expected, rel=1e-5)
    from trainables.model.check import check_model
    from trainables.data.user import make_dataset
    from trainables.data.types import DataSpec

    rng = np.random.default_rng(0)
    data = make_dataset({"x_train": rng.normal(size=(50, 12)), "y_train": np.arange(50) % own_models.N_CLASSES},
                        DataSpec(name="npz"), "arrays.npz")
    report = check_model(src, data)  # the driver's check lists every place the function can fill
    assert len(report.source.table) == 1 and set(next(iter(report.source.table.values()))) == {
        "kernel", "bias", "activity"}
    reused = trial_model(src, RegularizerSpec(names.L2, names.KERNEL, LAM), "float32")  # the worker's path
    assert float(sum(float(v) for v in reused.losses)) == pytest.approx(
        LAM * float(np.sum(np.square(np.asarray(reused.hidden.kernel)))), rel=1e-5)


def test_a_model_the_user_compiled_keeps_its_optimizer_and_loss_and_an_uncompiled_one_gets_the_seeds():
    model, _ = source("sequential_cnn").regularized(spec_maker(RegularizerSpec()))
    assert type(model.optimizer).__name__ == "SGD" and float(model.optimizer.learning_rate) == pytest.approx(0.05)
    assert model.loss == "sparse_categorical_crossentropy"
    model, _ = source("mlp").regularized(spec_maker(RegularizerSpec()))
    assert type(model.optimizer).__name__ == "Adam" and not model.loss.from_logits
    model, _ = source("resnet_block").regularized(spec_maker(RegularizerSpec()))
    assert model.loss.from_logits, "a head without softmax outputs logits"


def test_the_reused_model_trains_a_user_model_like_a_fresh_one():
    """The worker's reused model (variable penalties) starts where a fresh plain model starts."""
    import keras

    from trainables.model.reusable import trial_model

    src = source("embedding_head")
    spec = RegularizerSpec(names.ELASTIC_NET, names.KERNEL_BIAS, LAM, l1_ratio=0.5)
    trial_model(src, RegularizerSpec(names.L1, names.ACTIVITY, 0.1), "float32")  # the pool holds one already
    keras.utils.set_random_seed(5)
    reused = trial_model(src, spec, "float32")
    keras.utils.set_random_seed(5)
    plain = src.regularized(spec_maker(spec), fresh=src.fresh())[0]
    for a, b in zip(plain.variables, reused.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x = sample("embedding_head")
    plain(x), reused(x)
    assert float(sum(float(v) for v in reused.losses)) == pytest.approx(float(sum(float(v) for v in plain.losses)),
                                                                       rel=1e-5)


def test_the_users_module_travels_to_a_clusters_workers_as_a_py_module(tmp_path, monkeypatch):
    from sweep.runtime.cluster import worker_env
    from sweep.config.compose import load_config
    from sweep.session import user_modules

    (tmp_path / "single.py").write_text("def build():\n    pass\n")
    (tmp_path / "pkg" / "models").mkdir(parents=True)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "models" / "__init__.py").write_text("def build():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    assert user_modules(load_config(["model=single:build"])) == [tmp_path / "single.py"]
    assert user_modules(load_config(["model=pkg.models:build"])) == [tmp_path / "pkg"], "the top-level package"
    assert user_modules(load_config([])) == [], "the seed CNN ships with regsweep"
    assert worker_env([tmp_path / "pkg"])["py_modules"] == [str(tmp_path / "pkg")]
    assert "py_modules" not in worker_env()


def test_a_user_model_trial_resumes_from_its_checkpoint_and_the_driver_rebuilds_its_model(tmp_path):
    """Retry from checkpoint and resume use the same path as the seed CNN: weights.npz plus the
    model source in progress.json; the driver rebuilds the user's model with the trial's penalty."""
    import shutil

    from trainables.data.types import DataSpec
    from trainables.settings import TrainSettings
    from trainables.trainable import checkpoint_model, run_trial
    from trainables.data.user import make_dataset

    rng = np.random.default_rng(0)
    data = make_dataset({"x_train": rng.normal(size=(300, 12)), "y_train": np.arange(300) % own_models.N_CLASSES},
                        DataSpec(name="npz"), "arrays.npz")
    src = source("mlp")
    config = {names.REGULARIZER: names.L1, names.PLACEMENT: names.KERNEL, names.LAMBDA: 1e-3}
    settings = TrainSettings(epochs=3, batch_size=32, collapse_after=0, threads=1)
    kept: dict[int, Path] = {}

    def keep(metrics, ckpt):
        if ckpt:
            epoch = int(metrics[names.EPOCH])
            kept[epoch] = Path(shutil.copytree(ckpt, tmp_path / f"epoch{epoch}"))

    straight = []
    run_trial(config, data, settings, lambda m, c: (straight.append(m), keep(m, c)), source=src)
    resumed = []
    run_trial(config, data, settings, lambda m, c: resumed.append(m), restore_dir=str(kept[1]), source=src)
    assert [m[names.EPOCH] for m in resumed] == [2, 3]
    assert resumed[-1][names.FINISHED] == 1 and names.TEST_ACCURACY in resumed[-1]
    assert {"sparsity/hidden1", "sparsity/hidden2", "sparsity/head"} <= set(straight[-1])
    model = checkpoint_model(str(kept[3]))
    assert [layer.name for layer in model.layers][1:] == ["hidden1", "drop", "hidden2", "head"]
    assert model.get_layer("hidden1").kernel_regularizer.get_config()["l1"] == pytest.approx(1e-3)
    x = data.x_test[:8]
    assert np.allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, atol=1e-5)
