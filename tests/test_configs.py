"""Every config in conf/ composes and validates; bad overrides give one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from sweep.search.space import start_points
from sweep.config.compose import CONF_DIR, load_config
from sweep.config.schema import SweepConfig
from tests.cli import launch
from trainables.errors import ConfigError

OPTIONS = [(g.name, f.stem) for g in sorted(CONF_DIR.iterdir()) if g.is_dir() for f in sorted(g.glob("*.yaml"))]


def test_conf_has_the_required_groups():
    groups = {g for g, _ in OPTIONS}
    assert {"data", "search", "scheduler", "cluster", "tracking", "preset"} <= groups
    assert {o for g, o in OPTIONS if g == "data"} == {"emnist", "digits", "synthetic", "npz"}


@pytest.mark.parametrize("group, option", OPTIONS)
def test_every_config_composes_and_validates(group, option):
    needs = {("data", "npz"): ["data.path=arrays.npz"]}  # the one option that cannot run without a value
    cfg = load_config([f"{group}={option}", *needs.get((group, option), [])])
    assert isinstance(cfg, SweepConfig)


@pytest.mark.parametrize("path", sorted(CONF_DIR.rglob("*.yaml")))
def test_every_yaml_opens_with_the_command_that_uses_it_and_comments_its_keys(path):
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith("# @package")]
    assert lines[0].startswith("# Used by: python -m sweep.launch"), path
    for ln in lines:
        stripped = ln.strip()
        if stripped and not stripped.startswith("#") and not stripped.startswith("-") and stripped.endswith(":") is False:
            assert "#" in ln, f"{path.name}: uncommented key line: {ln!r}"


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def test_the_yaml_and_the_schema_agree_on_every_default():
    """One source for each default: what ``conf/`` composes with no override is the schema's own
    default, key by key (``search.num_samples`` was 16 in the YAML and 32 in the schema)."""
    from dataclasses import asdict

    composed, schema = _flat(asdict(load_config([]))), _flat(asdict(SweepConfig().validate()))
    assert composed.keys() == schema.keys()
    assert {k: (composed[k], schema[k]) for k in composed if composed[k] != schema[k]} == {}


def test_keys_added_later_take_the_schemas_default_for_old_sweeps():
    from sweep.fingerprint import ADDED_LATER_KEYS, added_later, first_difference, results_fingerprint

    current = json.loads(json.dumps(results_fingerprint(load_config([]))))
    assert set(ADDED_LATER_KEYS) <= current.keys(), "every key added later is in the fingerprint"
    old = {k: v for k, v in current.items() if k not in ADDED_LATER_KEYS}
    assert first_difference(old, current) is None, "a sweep saved before them resumes under the defaults"
    assert added_later()["search.sampler"] == "tpe" and added_later()["scheduler.spare_within_se"] == 1.0
    changed = json.loads(json.dumps(results_fingerprint(load_config(["scheduler.spare_within_se=2"]))))
    assert first_difference(old, changed) == "scheduler.spare_within_se"


def test_the_confidence_level_cannot_change_on_resume():
    """It sets the level of every look of confirmation: a resume with another level would judge the
    looks already made by one rule and the rest by another (it used to be allowed)."""
    from sweep.fingerprint import first_difference, results_fingerprint

    saved = json.loads(json.dumps(results_fingerprint(load_config([]))))
    changed = json.loads(json.dumps(results_fingerprint(load_config(["search.confidence=0.8"]))))
    assert first_difference(saved, changed) == "search.confidence"
    before_it_counted = {k: v for k, v in saved.items() if k != "search.confidence"}
    assert first_difference(before_it_counted, saved) is None, "an older sweep resumes at the default"


def test_defaults_reproduce_the_seed_training():
    cfg = load_config([])
    assert (cfg.data.name, cfg.data.val_split) == ("emnist", 0.2)
    assert (cfg.train.batch_size, cfg.train.epochs, cfg.train.learning_rate) == (250, 25, 1e-3)


def test_smoke_preset_shrinks_everything_and_article_preset_seeds_its_points():
    smoke = load_config(["preset=smoke"])
    assert smoke.data.name == "digits" and smoke.train.epochs <= 2 and smoke.search.num_samples <= 4
    article = load_config(["search=article"])
    assert article.search.article_points and len(start_points(article.search)) == 7, "the article's penalized runs"
    assert {"regularizer": "l2", "placement": "activity", "lambda": 0.1} in start_points(article.search)


def test_contract_keys_exist_and_work():
    cfg = load_config(["data=digits", "search.num_samples=8", "train.epochs=3",
                       "tracking.uri=http://127.0.0.1:5000", "tracking.experiment=exp",
                       "cluster.address=auto", "name=my-sweep", "resume=true"])
    assert (cfg.data.name, cfg.search.num_samples, cfg.train.epochs) == ("digits", 8, 3)
    assert (cfg.tracking.uri, cfg.tracking.experiment, cfg.cluster.address) == ("http://127.0.0.1:5000", "exp", "auto")
    assert (cfg.name, cfg.resume, cfg.sweep_name()) == ("my-sweep", True, "my-sweep")
    assert load_config([]).sweep_name().startswith("sweep-")


BAD = [
    (["search.nope=1"], "search.nope", "unknown config key"),
    (["+train.nope=1"], "train.nope", "unknown config key"),
    (["nosuchgroup=x"], "nosuchgroup", "unknown config"),
    (["data=mnist"], "data", "no option 'mnist'"),
    (["train.epochs=many"], "train.epochs", "could not be converted"),
    (["search.num_samples=0"], "search.num_samples", ">= 1"),
    (["search.lambda_low=0.1", "search.lambda_high=0.01"], "search.lambda_high", "greater than"),
    (["search.lambda_low=0"], "search.lambda_low", "> 0"),
    (["search.regularizers=[]"], "search.regularizers", "empty"),
    (["search.regularizers=[l3]"], "search.regularizers", "unknown regularizer"),
    (["cluster.gpus_per_trial=1.5"], "cluster.gpus_per_trial", "[0, 1]"),
    (["cluster.gpus_per_trial=-0.5"], "cluster.gpus_per_trial", "[0, 1]"),
    (["cluster.address=ray://head:10001"], "cluster.address", "not auto or host:port"),
    (["resume=true"], "resume", "needs the name"),
    (["tracking.max_outage_s=0"], "tracking.max_outage_s", "> 0"),
    (["search.points_to_evaluate=[{regularizer: l2, placement: activity, lambda: 5.0}]"],
     "search.points_to_evaluate[0]", "outside"),
    # regression: the bad key used to be named l1_ratio_low even when l1_ratio_high was wrong
    (["search.l1_ratio_high=1.5"], "search.l1_ratio_high", "[0, 1]"),
    (["search.confirm_seeds=-1"], "search.confirm_seeds", ">= 0"),
    (["search.patience=-1"], "search.patience", ">= 0"),
    (["search.futility=1"], "search.futility", "[0, 1)"),
    (["search.confirm_splits=maybe"], "search.confirm_splits", ""),
    (["train.collapse_after=-2"], "train.collapse_after", ">= 0"),
    (["search.objectives=[sparsity]"], "search.objectives", "must list val_accuracy"),
    (["search.objectives=[foo]"], "search.objectives", "unknown choice 'foo'"),
    (["search.accuracy_tolerance=2"], "search.accuracy_tolerance", "[0, 1)"),
    (["search.prior=maybe"], "search.prior", "unknown choice 'maybe'"),
    (["search.sampler=bayes"], "search.sampler", "unknown choice 'bayes'"),
    (["scheduler.spare_within_se=-1"], "scheduler.spare_within_se", ">= 0"),
    (["model=nope"], "model", "neither seed_cnn nor <module>:<function>"),
    (["data.loader=nope"], "data.loader", "not <module>:<function>"),
    (["data=npz"], "data.path", "data=npz needs the file"),
    (["data.path=x.npz"], "data.path", "only data=npz reads a file"),
    (["regularize.include=[a]", "regularize.exclude=[a]"], "regularize.exclude", "both included and excluded"),
    # the baseline trains every epoch: it started and overran the cap, exit 0
    (["train.epochs=25", "search.budget_epochs=10"], "search.budget_epochs", "the baseline alone would overrun it"),
]


@pytest.mark.parametrize("overrides, key, phrase", BAD)
def test_bad_override_is_a_config_error_naming_the_key(overrides, key, phrase):
    with pytest.raises(ConfigError) as err:
        load_config(overrides)
    assert err.value.key == key and phrase in str(err.value)


def _one_line_exit_2(code: int, stderr: str, key: str, phrase: str, where) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"regsweep: error: {key}:") and phrase in lines[0] and "Fix:" in lines[0]
    assert not (where / "ray_results").exists() and not (where / "outputs").exists()


@pytest.mark.parametrize("overrides, key, phrase", BAD)
def test_the_cli_prints_one_line_and_exits_2_without_starting_anything(overrides, key, phrase, tmp_path,
                                                                       monkeypatch, capsys):
    """The launcher's own ``main``, in this process: the same parse, composition and error line as
    ``python -m sweep.launch`` (the subprocess test below runs a few of them as a user does)."""
    from sweep.launch import main

    monkeypatch.chdir(tmp_path)
    code = main(list(overrides))
    _one_line_exit_2(code, capsys.readouterr().err, key, phrase, tmp_path)


#: One of each way a bad override is caught: Hydra's key check, a type conversion, a group option,
#: the schema's range checks.
THROUGH_A_PROCESS = [b for b in BAD if b[0] in (["search.nope=1"], ["train.epochs=many"], ["data=mnist"],
                                                ["search.lambda_low=0.1", "search.lambda_high=0.01"])]


@pytest.mark.parametrize("overrides, key, phrase", THROUGH_A_PROCESS)
def test_python_m_sweep_launch_prints_one_line_and_exits_2(overrides, key, phrase, tmp_path):
    proc = launch(tmp_path, *overrides, timeout=120)
    _one_line_exit_2(proc.returncode, proc.stderr, key, phrase, tmp_path)


def test_the_gp_sampler_without_torch_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(ConfigError) as err:
        load_config(["search.sampler=gp"])
    assert err.value.key == "search.sampler" and "regsweep[gp]" in str(err.value)
