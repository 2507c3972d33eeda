"""The reaches into Ray's private internals, in one place, each pinned by ``tests/test_ray_internals.py``.

Ray 2.60 has no public call for "join a cluster the way ``ray start`` does". Its CLI enables token
authentication when ``RAY_AUTH_MODE`` is unset and a token is at hand, and refreshes its cached
config so that the running process sees the change. Setting the variable alone after ``import ray``
is not enough. A Ray upgrade that moves or renames this function fails the pinning test, naming Ray
and its version, instead of silently breaking cluster joins.
"""

from __future__ import annotations

import logging

#: The private module and function used below (the pinning test imports them by these names).
TOKEN_SETUP_MODULE = "ray._private.authentication.authentication_token_setup"
TOKEN_SETUP_FUNCTION = "maybe_enable_token_auth_if_token_available"


def enable_token_auth_if_token_available() -> bool:
    """Token mode for this process and its children when ``RAY_AUTH_MODE`` is unset and a token is
    at hand (what ``ray start`` does); an explicit ``RAY_AUTH_MODE`` is respected. True in token mode."""
    import importlib

    setup = getattr(importlib.import_module(TOKEN_SETUP_MODULE), TOKEN_SETUP_FUNCTION)
    quiet = logging.getLogger(TOKEN_SETUP_MODULE)
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its "token authentication is enabled" line is for a cluster's owner
    try:
        return bool(setup(warn_if_disabled=False))
    finally:
        quiet.setLevel(level)
