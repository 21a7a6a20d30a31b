"""Representation-study configs: `--config=experiments/configs/representations.py:VARIANT`.

The variants live in jaxunsup/configs/representations.py so that notebooks and tests can import them.
"""

from jaxunsup.configs.representations import get_config  # noqa: F401
