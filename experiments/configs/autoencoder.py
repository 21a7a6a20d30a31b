"""Autoencoder configs: `--config=experiments/configs/autoencoder.py:VARIANT`.

The variants (smoke, demo, hinton, vae_iwae) live in jaxunsup/configs/autoencoder.py so that
notebooks and tests can import them too.
"""

from jaxunsup.configs.autoencoder import get_config  # noqa: F401
