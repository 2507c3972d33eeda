"""Hydra composition of ``conf/`` onto the typed ``SweepConfig``, with one-line errors.

The schema is registered in Hydra's ConfigStore (``regsweep_schema``, first in ``config.yaml``'s
defaults), so Hydra itself rejects an unknown key, a wrong type or a choice outside its Enum, and the
OmegaConf error it raises carries the key (``full_key``). This module only turns those errors into
one ``ConfigError`` line and exit code 2; it reads no message text. The compose API is used (not
``@hydra.main``) so that nothing of Hydra's multi-line report reaches the terminal.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from sweep.config.schema import SweepConfig
from trainables.choices import Placement, Precision, Regularizer, Scheduler
from trainables.errors import ConfigError


def _conf_dir() -> Path:
    """``sweep/conf`` in an installed wheel, else ``conf/`` at the top of the checkout."""
    package = Path(__file__).resolve().parents[1]  # sweep/
    packaged = package / "conf"
    return packaged if packaged.is_dir() else package.parent / "conf"


CONF_DIR = _conf_dir()
PRIMARY = "config"
SCHEMA = "regsweep_schema"
_HELP_FIX = "run `python -m sweep.launch --help` to list the groups and keys"
#: How each Enum choice is named in an error line.
_CHOICE_LABEL = {Regularizer: "regularizer", Placement: "placement", Precision: "precision", Scheduler: "scheduler"}


def register_schema() -> None:
    """Put ``SweepConfig`` in Hydra's ConfigStore, where ``config.yaml``'s defaults list finds it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA, node=SweepConfig)


def compose_raw(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides; raise ``ConfigError`` on any problem."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, MissingConfigException

    if not conf_dir.is_dir():
        raise ConfigError("conf", f"config directory {conf_dir} is missing",
                          "reinstall regsweep (pip install .), or run from its checkout")
    parsed = _parse(overrides)
    _check_additions(parsed)
    register_schema()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3", job_name="regsweep"):
            return compose(config_name=PRIMARY, overrides=list(overrides))
    except MissingConfigException as exc:
        raise _missing_option(exc, conf_dir) from None
    except HydraException as exc:
        raise _composition_error(exc, parsed, conf_dir) from None


def to_sweep_config(raw: DictConfig) -> SweepConfig:
    """The typed object of a composed config, with its ranges and combinations validated."""
    from omegaconf.errors import OmegaConfBaseException

    try:
        cfg = OmegaConf.to_object(raw)
    except OmegaConfBaseException as exc:
        raise _from_omegaconf(exc) from None
    assert isinstance(cfg, SweepConfig)
    return cfg.validate()


def load_config(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> SweepConfig:
    """Compose, type-check and validate: the only way the CLI builds a config."""
    return to_sweep_config(compose_raw(overrides, conf_dir))


def _parse(overrides: Sequence[str]) -> list[Any]:
    """Hydra's own parse of the overrides (the key of each), or one line for a malformed one."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        return OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as exc:
        raise ConfigError("overrides", _first_line(str(exc)), "write overrides as key=value, e.g. train.epochs=3") from None


def _in_schema(key: str) -> bool:
    """True when the dotted ``key`` is declared by ``SweepConfig``."""
    return OmegaConf.select(OmegaConf.structured(SweepConfig), key, default=_ABSENT) is not _ABSENT


def _check_additions(parsed: list[Any]) -> None:
    """``+key=value`` may add only what the schema declares: Hydra lets an addition past its check."""
    for override in parsed:
        key = override.key_or_group
        if override.is_add() and "." in key and not _in_schema(key):
            raise ConfigError(key, "unknown config key", _HELP_FIX)


def _from_omegaconf(exc: Exception) -> ConfigError:
    """One line from the OmegaConf error Hydra raised for a key."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    key = getattr(exc, "full_key", None) or "config"
    if isinstance(exc, (ConfigAttributeError, ConfigKeyError)):
        return ConfigError(key, "unknown config key", _HELP_FIX)
    if isinstance(exc, ValidationError):
        choice = _enum_of(exc)
        if choice is not None:
            owner = key.split("[", 1)[0]
            return ConfigError(owner, f"unknown {_CHOICE_LABEL.get(choice, 'choice')} {str(getattr(exc, 'value', ''))!r}",
                               f"use any of {', '.join(choice)}")
        return ConfigError(key, _first_line(getattr(exc, "msg", str(exc))), "give a value of the key's type (see --help)")
    return ConfigError(key, _first_line(getattr(exc, "msg", str(exc))), _HELP_FIX)


def _enum_of(exc: Exception) -> Optional[type[Enum]]:
    """The Enum a rejected value had to belong to, when the key holds a choice: OmegaConf gives the
    list's type (``List[Regularizer]``) or the dataclass and field that hold the value."""
    import typing

    ref, key = getattr(exc, "ref_type", None), getattr(exc, "key", None)
    candidates = list(typing.get_args(ref))
    if isinstance(ref, type) and isinstance(key, str):
        try:
            candidates.append(typing.get_type_hints(ref).get(key))
        except (NameError, TypeError):
            pass
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, Enum)), None)


def _missing_option(exc: Exception, conf_dir: Path) -> ConfigError:
    """A group option that has no YAML file: name the group and its options."""
    missing = str(getattr(exc, "missing_cfg_file", "") or "")
    group, _, option = missing.rpartition("/")
    if group:
        choices = " | ".join(sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))) or "<option>"
        return ConfigError(group, f"no option {option!r} in config group {group!r}", f"use {group}={choices}")
    return ConfigError("config", _first_line(str(exc)), _HELP_FIX)


def _composition_error(exc: Exception, parsed: list[Any], conf_dir: Path) -> ConfigError:
    """The key an override failed on, from the OmegaConf error Hydra chained, or from the override."""
    from omegaconf.errors import OmegaConfBaseException

    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException):
        return _from_omegaconf(cause)
    for override in parsed:
        key = override.key_or_group
        known = _in_schema(key)
        if override.is_add() and known:
            return ConfigError(key, "already exists, so '+' cannot add it", f"drop the '+' in +{key}")
        if "." not in key and not known and not (conf_dir / key).is_dir():
            return ConfigError(key, "unknown config group", _HELP_FIX)
        if not known and not (conf_dir / key.split(".", 1)[0]).is_dir():
            return ConfigError(key, "unknown config key", _HELP_FIX)
    return ConfigError("config", _first_line(str(exc)), _HELP_FIX)


_ABSENT = object()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else "invalid value"
