"""jaxunsup: unsupervised deep learning in JAX (autoencoders, GANs, pretraining).

`jaxunsup.load(workdir)` opens any training run as the model API its objective provides.
"""

__version__ = "0.1.0"


def load(workdir: str):
  """The run saved in `workdir` (its latest checkpoint): see jaxunsup/trained.py."""
  from jaxunsup import trained  # pylint: disable=import-outside-toplevel  (keeps `import jaxunsup` light)
  return trained.load(workdir)
