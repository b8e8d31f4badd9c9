# Strata: two commands for a new user, `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.strata-setup

# Debian packages the project and its tests use.
APT_PACKAGES := rpm python3-rpm python3-solv bubblewrap createrepo-c ostree dnf python3-dnf \
	strace gnupg attr libcap2-bin cpio zstd xz-utils bzip2 python3-venv \
	gtk-update-icon-cache hicolor-icon-theme libglib2.0-bin shared-mime-info fontconfig \
	e2fsprogs util-linux alien

.PHONY: setup apt venv demo test test-unit test-integration test-e2e lint format bench clean

setup: apt $(STAMP)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:" $$missing; \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@# libsolv's Python bindings come from Debian's python3-solv (built with rpm, rpmdb and
	@# every compression); link them into the virtualenv as the rpm shim does for rpm.
	$(PY) -c 'import sysconfig, pathlib, glob; sp = pathlib.Path(sysconfig.get_paths()["purelib"]); \
	[ (sp / pathlib.Path(f).name).unlink(missing_ok=True) or (sp / pathlib.Path(f).name).symlink_to(f) \
	  for f in glob.glob("/usr/lib/python3/dist-packages/solv.py") + glob.glob("/usr/lib/python3/dist-packages/_solv.*.so") ]'
	$(PY) -c 'import rpm, solv, pygit2, yaml; assert hasattr(solv.Repo, "add_rpmdb")'
	touch $(STAMP)

demo: setup
	$(PY) -m layering.demo

test: setup
	$(PY) -m pytest -q tests

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

test-e2e: setup
	$(PY) -m pytest -q tests/e2e

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) -m bench $(if $(FULL),--full,)

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache
