"""Fashion-MNIST product images, built by this project (no TensorFlow needed).

Lives in its own folder because TFDS reads checksums.tsv beside this file.
"""

from jaxunsup.data import builder


class Builder(builder.ImageBuilder, skip_registration=True):
  """Fashion-MNIST: 60,000 train and 10,000 test 28x28 images, 10 classes."""

  # Same name as TFDS's own builder, which is harmless: this one is never
  # registered and always stored under our own data_dir.
  name = "fashion_mnist"
  DESCRIPTION = ("Fashion-MNIST: Zalando's article images, a drop-in"
                 " replacement for MNIST.")
  HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
  CITATION = """@article{DBLP:journals/corr/abs-1708-07747,
  author    = {Han Xiao and Kashif Rasul and Roland Vollgraf},
  title     = {Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
               Learning Algorithms},
  journal   = {CoRR},
  volume    = {abs/1708.07747},
  year      = {2017},
  url       = {https://arxiv.org/abs/1708.07747},
}"""
