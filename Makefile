# Strata: two commands for a new user, `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Bump the suffix when the venv recipe changes, so existing virtualenvs get it too.
STAMP := $(VENV)/.strata-setup-3

# Debian packages the project and its tests use.
APT_PACKAGES := rpm python3-rpm python3-solv bubblewrap createrepo-c ostree dnf python3-dnf \
	strace gnupg attr libcap2-bin cpio zstd xz-utils bzip2 python3-venv \
	gtk-update-icon-cache hicolor-icon-theme libglib2.0-bin shared-mime-info fontconfig \
	e2fsprogs util-linux alien python3-seccomp busybox-static nginx systemd qemu-system-x86

.PHONY: setup apt venv boot-deps demo demo-boot test test-unit test-integration test-e2e lint format bench clean

setup: apt $(STAMP) boot-deps

# What the boot test and `make demo-boot` boot, unpacked (never installed) into .cache/boot:
# Debian's cloud kernel (the versioned package linux-image-cloud-amd64 depends on) and
# ostree-boot, which ships libostree's ostree-prepare-root. fixtures/bootable.py reads it.
BOOT_CACHE := .cache/boot
boot-deps: $(BOOT_CACHE)/.complete

$(BOOT_CACHE)/.complete:
	rm -rf $(BOOT_CACHE) && mkdir -p $(BOOT_CACHE)/debs
	@kernel=$$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $$2; exit}'); \
	if [ -z "$$kernel" ]; then \
		if [ "$$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi; $$SUDO apt-get update -qq; \
		kernel=$$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/ {print $$2; exit}'); \
	fi; \
	echo "Fetching $$kernel and ostree-boot into $(BOOT_CACHE)"; \
	cd $(BOOT_CACHE)/debs && apt-get download -q $$kernel ostree-boot 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
	ls $(BOOT_CACHE)/debs/linux-image-*.deb $(BOOT_CACHE)/debs/ostree-boot_*.deb >/dev/null
	dpkg-deb -x $(BOOT_CACHE)/debs/linux-image-*.deb $(BOOT_CACHE)/kernel
	dpkg-deb -x $(BOOT_CACHE)/debs/ostree-boot_*.deb $(BOOT_CACHE)/ostree-boot
	rm -rf $(BOOT_CACHE)/debs
	touch $@

# Replace the rpm shim's __init__.py by links to the files of Debian's rpm package when its
# extension matches this interpreter (same EXT_SUFFIX); the shim stays installed as the declared
# dependency and is put back (from pip) when Debian's module no longer matches. Files are linked
# one by one into the shim's own directory, never the directory itself, so that pip uninstalling
# the shim later removes links, not Debian's files. Idempotent.
define LINK_RPM
import importlib.metadata, pathlib, subprocess, sys, sysconfig
system = pathlib.Path("/usr/lib/python3/dist-packages/rpm")
shim = pathlib.Path(sysconfig.get_paths()["purelib"]) / "rpm"
if (system / f"_rpm{sysconfig.get_config_var('EXT_SUFFIX')}").is_file():
    for src in sorted(system.iterdir()):
        if src.name != "__pycache__":
            (shim / src.name).unlink(missing_ok=True)
            (shim / src.name).symlink_to(src)
    for pyc in shim.glob("__pycache__/*.pyc"):
        pyc.unlink()
elif links := [f for f in shim.iterdir() if f.is_symlink()]:
    for f in links:
        f.unlink()
    shim_version = f"rpm=={importlib.metadata.version('rpm')}"
    pip = [sys.executable, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps"]
    subprocess.run([*pip, shim_version], check=True)
endef
export LINK_RPM

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
	@# every compression), libseccomp's (the sandbox's system call filter) from python3-seccomp;
	@# link them into the virtualenv as the rpm shim does for rpm.
	$(PY) -c 'import sysconfig, pathlib, glob; sp = pathlib.Path(sysconfig.get_paths()["purelib"]); \
	[ (sp / pathlib.Path(f).name).unlink(missing_ok=True) or (sp / pathlib.Path(f).name).symlink_to(f) \
	  for f in glob.glob("/usr/lib/python3/dist-packages/solv.py") + glob.glob("/usr/lib/python3/dist-packages/_solv.*.so") \
	  + glob.glob("/usr/lib/python3/dist-packages/seccomp.*.so") ]'
	@# The rpm PyPI shim finds Debian's python3-rpm by running two system interpreters on every
	@# `import rpm` (~0.05 s per command); when Debian's module is built for this interpreter,
	@# link its files into the shim's package directory instead (see LINK_RPM).
	$(PY) -c "$$LINK_RPM"
	$(PY) -c 'import rpm, solv, seccomp, pygit2, yaml; assert hasattr(solv.Repo, "add_rpmdb"); \
	  assert rpm.expandMacro("%{_dbpath}")'
	rm -f $(VENV)/.strata-setup $(VENV)/.strata-setup-2
	touch $(STAMP)

demo-boot: setup
	$(PY) -m fixtures.demo_boot

demo: setup
	$(PY) -m fixtures.demo

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
