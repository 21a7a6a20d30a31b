"""GAN configs: `--config=experiments/configs/gan.py:VARIANT`.

The variants (smoke, mlp, dcgan, wgan_gp, cgan, sngan, infogan, dcgan_fashion) live in jaxunsup/configs/gan.py so
that notebooks and tests can import them too.
"""

from jaxunsup.configs.gan import get_config  # noqa: F401
