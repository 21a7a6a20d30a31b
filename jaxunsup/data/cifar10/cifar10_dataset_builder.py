"""CIFAR-10, built by this project from the canonical binary archive (no TensorFlow needed).

Lives in its own folder because TFDS reads checksums.tsv beside this file. No
offline copy is known: prepare downloads the archive (TFDS checks its size and
sha256) or reads it from --source_dir.
"""

from jaxunsup.data import builder


class Builder(builder.ImageBuilder, skip_registration=True):
  """CIFAR-10: 50,000 train and 10,000 test 32x32 colour images, 10 classes."""

  # Same name as TFDS's own builder, which is harmless: this one is never
  # registered and always stored under our own data_dir.
  name = "cifar10"
  DESCRIPTION = "The CIFAR-10 dataset of 32x32 colour images in 10 classes."
  HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
  CITATION = """@techreport{krizhevsky2009learning,
  title={Learning multiple layers of features from tiny images},
  author={Krizhevsky, Alex},
  institution={University of Toronto},
  year={2009}
}"""
