"""jaxunsup: unsupervised deep learning in JAX (autoencoders, GANs, pretraining)."""

__version__ = "0.1.0"
