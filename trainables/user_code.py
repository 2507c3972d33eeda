"""Finding the user's own functions: ``model=<module>:<function>`` and ``data.loader=<module>:<function>``.

The module is imported the way ``python -m`` would: from ``PYTHONPATH`` or the working directory.
Every way this can go wrong (a malformed name, a module that is not there or fails to import, a
missing or non-callable attribute) is one ``ConfigError`` naming the key and the fix.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from trainables.errors import ConfigError

_TARGET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")


def is_target(text: str) -> bool:
    """True for ``package.module:function``."""
    return bool(_TARGET_RE.match(text))


def load_callable(target: str, key: str) -> Callable[..., Any]:
    """The function ``target`` (``module:function``) names; ``key`` is the config key it came from."""
    if not is_target(target):
        raise ConfigError(key, f"{target!r} is not <module>:<function>",
                          f"use e.g. {key}=my_pkg.models:build (a module on PYTHONPATH or in the working directory)")
    module_name, _, attr = target.partition(":")
    _working_dir_on_path()
    try:
        fn = pkgutil.resolve_name(target)  # imports the module, then looks the function up in it
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing == module_name or module_name.startswith(missing + "."):  # the module itself, or its package
            raise ConfigError(key, f"module {module_name!r} is not on PYTHONPATH or in the working directory "
                              f"({os.getcwd()})", "run from the directory that holds it, or add its folder to "
                              "PYTHONPATH") from None
        raise ConfigError(key, f"importing {module_name!r} failed: {exc}", "install what it imports") from None
    except Exception as exc:
        module = sys.modules.get(module_name)  # imported: the function is what is missing
        if isinstance(exc, AttributeError) and module is not None and not hasattr(module, attr):
            raise ConfigError(key, f"module {module_name!r} has no {attr!r}", f"define {attr}() in {module_name} "
                              "or fix the name after the colon") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ConfigError(key, f"importing {module_name!r} failed ({type(exc).__name__}: {first})",
                          f"fix the module; `python -c 'import {module_name}'` shows the whole error") from None
    if not callable(fn):
        raise ConfigError(key, f"{target} is a {type(fn).__name__}, not a function", "name a function")
    return fn


def module_path(target: str) -> Optional[Path]:
    """The file or package folder to ship to a cluster's workers for ``target`` (its top-level
    package, or the module file itself), or None when it is installed in site-packages."""
    top = target.partition(":")[0].split(".")[0]
    _working_dir_on_path()
    module = sys.modules.get(top) or importlib.import_module(top)
    origin = getattr(module, "__file__", None)
    if origin is None:
        return None
    path = Path(origin).resolve()
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return None
    return path.parent if path.name == "__init__.py" else path


def _working_dir_on_path() -> None:
    """``python -m sweep.launch`` puts the working directory on sys.path; other callers (a test,
    a notebook started elsewhere) get the same lookup."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
