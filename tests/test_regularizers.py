"""The regularizer factory: validation, the elastic-net mapping, and the losses each placement adds."""

from __future__ import annotations

import numpy as np
import pytest

from trainables import names
from trainables.errors import ConfigError
from trainables.model.seed_cnn import REGULARIZED_LAYERS, build_model
from trainables.model.regularizers import RegularizerSpec

PENALTIES = (names.L1, names.L2, names.ELASTIC_NET)


def _spec(kind: str, placement: str, lam: float = 0.01) -> RegularizerSpec:
    return RegularizerSpec(kind, placement, lam, 0.3 if kind == names.ELASTIC_NET else None)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        (dict(kind="l3", placement="kernel", lam=0.1), names.REGULARIZER),
        (dict(kind="l1l2", placement="kernel", lam=0.1), names.REGULARIZER),
        (dict(kind="l1", placement="weights", lam=0.1), names.PLACEMENT),
        (dict(kind="l1", placement="kernel", lam=0.0), names.LAMBDA),
        (dict(kind="l2", placement="kernel", lam=-1e-3), names.LAMBDA),
        (dict(kind="l2", placement="kernel", lam=float("nan")), names.LAMBDA),
        (dict(kind="elastic_net", placement="kernel", lam=0.1, l1_ratio=1.5), names.L1_RATIO),
        (dict(kind="elastic_net", placement="kernel", lam=0.1, l1_ratio=-0.1), names.L1_RATIO),
        (dict(kind="elastic_net", placement="kernel", lam=0.1), names.L1_RATIO),
        (dict(kind="l1", placement="kernel", lam=0.1, l1_ratio=0.5), names.L1_RATIO),
    ],
)
def test_bad_values_raise_config_error_naming_the_param(kwargs, key):
    with pytest.raises(ConfigError) as err:
        RegularizerSpec(**kwargs)
    assert err.value.key == key
    assert "Fix:" in str(err.value) and "\n" not in str(err.value)


def test_none_ignores_lambda_and_adds_nothing():
    assert RegularizerSpec().layer_kwargs() == {}
    assert RegularizerSpec.from_trial_config({names.REGULARIZER: names.NONE}).as_params() == {
        names.REGULARIZER: names.NONE
    }


@pytest.mark.parametrize("alpha, lam", [(0.0, 0.1), (1.0, 0.1), (0.25, 0.02), (0.5, 0.02)])
def test_elastic_net_l1_ratio_follows_scikit_learn(alpha, lam):
    """l1_ratio is scikit-learn's: the L1 share, so penalty = lam * (a*|w|_1 + (1-a)*|w|^2)."""
    spec = RegularizerSpec(names.ELASTIC_NET, names.KERNEL, lam, alpha)
    assert spec.penalty_weights() == pytest.approx((lam * alpha, lam * (1 - alpha)))
    reg = spec.layer_kwargs()["kernel_regularizer"]
    assert type(reg).__name__ == "L1L2"
    assert reg.get_config() == {"l1": pytest.approx(lam * alpha), "l2": pytest.approx(lam * (1 - alpha))}
    w = np.array([[1.0, -2.0], [0.5, 0.0]], dtype="float32")
    expected = lam * (alpha * np.abs(w).sum() + (1 - alpha) * np.square(w).sum())
    assert float(reg(w)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("alpha, twin", [(1.0, names.L1), (0.0, names.L2)])
def test_built_model_penalty_with_l1_ratio_one_is_pure_l1_and_zero_is_pure_l2(alpha, twin):
    """On a built model: elastic net at l1_ratio=1 adds exactly L1's penalty (scikit-learn's meaning),
    at 0 exactly L2's. With the old meaning (1 = pure L2) the first case fails."""
    import keras

    def penalty(spec: RegularizerSpec) -> float:
        keras.backend.clear_session()
        keras.utils.set_random_seed(3)
        model = build_model(10, spec)
        model(np.zeros((1, 28, 28, 1), "float32"))
        return float(sum(float(x) for x in model.losses))

    en = penalty(RegularizerSpec(names.ELASTIC_NET, names.KERNEL, 0.01, alpha))
    assert en > 0 and en == pytest.approx(penalty(RegularizerSpec(twin, names.KERNEL, 0.01)), rel=1e-5)


def test_keras_objects_get_python_floats():
    spec = RegularizerSpec(names.L1, names.KERNEL, np.float32(0.01).item())
    reg = spec.layer_kwargs()["kernel_regularizer"]
    assert type(reg).__name__ == "L1"
    assert reg.get_config() == {"l1": pytest.approx(0.01)}


@pytest.mark.parametrize("kind", PENALTIES)
@pytest.mark.parametrize("placement", names.PLACEMENTS)
def test_every_regularizer_and_placement_builds_and_adds_the_right_losses(kind, placement):
    import keras

    keras.backend.clear_session()
    spec = _spec(kind, placement)
    model = build_model(10, spec)
    for layer_name in REGULARIZED_LAYERS:
        layer = model.get_layer(layer_name)
        expected_args = {
            names.KERNEL: {"kernel_regularizer"},
            names.BIAS: {"bias_regularizer"},
            names.ACTIVITY: {"activity_regularizer"},
            names.KERNEL_BIAS: {"kernel_regularizer", "bias_regularizer"},
        }[placement]
        for arg in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
            has = getattr(layer, arg) is not None
            assert has == (arg in expected_args), (layer_name, arg)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    model(x, training=True)  # activity penalties only exist after a forward pass
    per_layer = 2 if placement == names.KERNEL_BIAS else 1
    assert len(model.losses) == per_layer * len(REGULARIZED_LAYERS)
    assert all(float(loss) >= 0 for loss in model.losses)
    if placement in (names.KERNEL, names.KERNEL_BIAS):
        # the kernel penalty of the first layer equals the formula on its weights
        w = np.asarray(model.get_layer("conv1").kernel)
        l1, l2 = spec.penalty_weights()
        expected = l1 * np.abs(w).sum() + l2 * np.square(w).sum()
        assert float(model.get_layer("conv1").losses[0]) == pytest.approx(expected, rel=1e-4)


def test_no_regularizer_adds_no_losses():
    import keras

    keras.backend.clear_session()
    model = build_model(10, RegularizerSpec())
    model(np.zeros((2, 28, 28, 1), "float32"))
    assert model.losses == []
