"""MNIST handwritten digits, built by this project (no TensorFlow needed).

Lives in its own folder because TFDS reads checksums.tsv beside this file.
"""

from jaxunsup.data import builder


class Builder(builder.ImageBuilder, skip_registration=True):
  """MNIST: 60,000 train and 10,000 test 28x28 digits, labels 0..9."""

  # Same name as TFDS's own builder, which is harmless: this one is never
  # registered and always stored under our own data_dir.
  name = "mnist"
  DESCRIPTION = "The MNIST database of handwritten digits."
  HOMEPAGE = "http://yann.lecun.com/exdb/mnist/"
  CITATION = """@article{lecun2010mnist,
  title={MNIST handwritten digit database},
  author={LeCun, Yann and Cortes, Corinna and Burges, CJ},
  journal={ATT Labs [Online]. Available: http://yann.lecun.com/exdb/mnist},
  volume={2},
  year={2010}
}"""
