"""Hydra composition of ``conf/`` into a validated ``SweepConfig``, with one-line errors.

The Hydra compose API is used (not ``@hydra.main``) so that every composition error can be turned
into a single ``ConfigError`` line and exit code 2 instead of Hydra's multi-line report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig, OmegaConf

from sweep.config import SweepConfig
from trainables.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
PRIMARY = "config"
_HELP_FIX = "run `python -m sweep.launch --help` to list the groups and keys"


def compose_raw(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> DictConfig:
    """Compose ``conf/config.yaml`` with Hydra overrides; raise ``ConfigError`` on any problem."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException, MissingConfigException

    if not conf_dir.is_dir():
        raise ConfigError("conf", f"config directory {conf_dir} is missing",
                          "run from a checkout installed with pip install -e .")
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3", job_name="regsweep"):
            return compose(config_name=PRIMARY, overrides=list(overrides))
    except MissingConfigException as exc:
        raise _missing_option(exc) from None
    except HydraException as exc:
        raise _composition_error(exc) from None


def to_sweep_config(raw: DictConfig) -> SweepConfig:
    """Merge onto the typed schema (unknown keys, wrong types) and validate ranges."""
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

    try:
        merged = OmegaConf.merge(OmegaConf.structured(SweepConfig), raw)
        cfg = OmegaConf.to_object(merged)
    except ConfigKeyError as exc:
        key = exc.full_key or str(exc.key)
        raise ConfigError(key, "unknown config key", _HELP_FIX) from None
    except ValidationError as exc:
        raise ConfigError(exc.full_key or "config", _first_line(exc.msg),
                          "give a value of the key's type (see --help)") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(getattr(exc, "full_key", None) or "config", _first_line(str(exc)), _HELP_FIX) from None
    assert isinstance(cfg, SweepConfig)
    return cfg.validate()


def load_config(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> SweepConfig:
    """Compose, type-check and validate: the only way the CLI builds a config."""
    return to_sweep_config(compose_raw(overrides, conf_dir))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else "invalid value"


def _missing_option(exc: Exception) -> ConfigError:
    text = str(exc)
    m = re.search(r"Could not find '([^']+)/([^'/]+)'", text)
    options = getattr(exc, "options", None) or re.findall(r"^\t(\S+)$", text, flags=re.M)
    if m:
        group, option = m.group(1), m.group(2)
        choices = " | ".join(sorted(options)) if options else "<option>"
        return ConfigError(group, f"no option {option!r} in config group {group!r}", f"use {group}={choices}")
    return ConfigError("config", _first_line(text), _HELP_FIX)


def _composition_error(exc: Exception) -> ConfigError:
    text = str(exc)
    cause = str(exc.__cause__ or "")
    m = re.search(r"Could not override '([^']+)'", text)
    if m:
        key = m.group(1)
        if "No match in the defaults list" in text or "No match in the defaults list" in cause:
            return ConfigError(key, "unknown config group", _HELP_FIX)
        if "not in struct" in text + cause or "To append to your config" in text:
            return ConfigError(key, "unknown config key", _HELP_FIX)
        return ConfigError(key, _first_line(cause or text), _HELP_FIX)
    m = re.search(r"Could not append to config\. An item is already at '([^']+)'", text)
    if m:
        return ConfigError(m.group(1), "already exists, so '+' cannot add it", f"drop the '+' in +{m.group(1)}")
    if "Error parsing override" in text or "mismatched input" in text:
        return ConfigError("overrides", _first_line(text), "write overrides as key=value, e.g. train.epochs=3")
    return ConfigError("config", _first_line(text), _HELP_FIX)
