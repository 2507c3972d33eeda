# Set-up and test commands (README "Tests"; .ci/run calls the same targets).
# `make setup` installs everything the tests use: Debian's packages (as root, or through sudo) and
# the package with its dev extras. The test targets run pytest with the suites' markers.
SHELL := /bin/bash
PYTHON ?= python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# chromium: the browser test drives Debian's chromium through Playwright (no browser download);
# docker.io, docker-compose, debootstrap: the compose suite (the test starts its own engine).
DEBIAN_PACKAGES := ca-certificates chromium docker.io docker-compose debootstrap

.PHONY: setup test test-slow test-docker test-bench bench-overhead

setup:
	@if command -v apt-get >/dev/null 2>&1; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES); \
	else echo "setup: no apt-get; install $(DEBIAN_PACKAGES) with your package manager" >&2; fi
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(PYTHON) -m pip install -q -e ".[dev]"

test:
	$(PYTHON) -m pytest

test-slow:
	$(PYTHON) -m pytest -m slow

test-docker:
	$(PYTHON) -m pytest -m docker

test-bench:
	$(PYTHON) -m pytest -m bench

bench-overhead:
	$(PYTHON) -m sweep.bench overhead
