"""Fault campaign configs: `--config=experiments/configs/faults.py:VARIANT` (default, smoke).

The variants live in jaxunsup/configs/faults.py so that tests can import them too.
"""

from jaxunsup.configs.faults import get_config  # noqa: F401
