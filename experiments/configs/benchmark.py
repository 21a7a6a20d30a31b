"""Benchmark configs: `--config=experiments/configs/benchmark.py:VARIANT`.

The variants (default, bfloat16, batch_sweep, smoke) live in jaxunsup/configs/benchmark.py so that
notebooks and tests can import them too.
"""

from jaxunsup.configs.benchmark import get_config  # noqa: F401
