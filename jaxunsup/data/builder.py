"""Base TFDS builders for the project's datasets, stored as array_record.

Image features are plain uint8 Tensors (stored as raw bytes) and a ClassLabel, the
kinds TFDS can encode and decode without TensorFlow; `tfds.features.Image`
would need TensorFlow.
"""

import numpy as np
import tensorflow_datasets as tfds

from jaxunsup.data import sources
from jaxunsup.data import specs


def image_features(spec: specs.DatasetSpec) -> tfds.features.FeaturesDict:
  """An image dataset's features: the image, its class and, where the spec has them, the indices
  of its ground-truth factors (both arrays raw bytes, as `load` decodes them)."""
  features = {
      "image": tfds.features.Tensor(
          shape=spec.shape, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES),
      "label": tfds.features.ClassLabel(names=spec.class_names),
  }
  if spec.factors:
    features["factors"] = tfds.features.Tensor(
        shape=(len(spec.factors),), dtype=np.uint8, encoding=tfds.features.Encoding.BYTES)
  return tfds.features.FeaturesDict(features)


class QuietBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder that leaves the talking to prepare(), which prints one summary line instead of
  TFDS's banners."""

  def __init__(self, *, from_manual_dir: bool = False,
               verify_hash: bool = True, **kwargs):
    super().__init__(**kwargs)
    self._from_manual_dir = from_manual_dir
    self._verify_hash = verify_hash

  def _log_download_bytes(self) -> None:
    pass

  def _log_download_done(self) -> None:
    pass


class ImageBuilder(QuietBuilder, skip_registration=True):
  """Builds a dataset from the first source in `sources.resolve` that works."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: uint8 images in canonical order."}
  DESCRIPTION = ""
  HOMEPAGE = ""
  CITATION = ""

  @property
  def MANUAL_DOWNLOAD_INSTRUCTIONS(self) -> str:  # pylint: disable=invalid-name
    return f"Give --source_dir DIR holding {sources.source_dir_contents(self.name)}."

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description=self.DESCRIPTION,
        features=image_features(specs.SPECS[self.name]),
        supervised_keys=("image", "label"),
        homepage=self.HOMEPAGE,
        citation=self.CITATION,
        # Keep the canonical IDX order; training code shuffles for itself.
        disable_shuffling=True,
        # Records which source the data came from (saved in metadata.json).
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    # Everything is read and verified here, before TFDS writes a record.
    splits, origin = sources.resolve(
        self.name, dl_manager, self._from_manual_dir, self._verify_hash)
    self.info.metadata["source"] = origin
    return {
        split: self._generate_examples(images, labels)
        for split, (images, labels) in splits.items()
    }

  def _generate_examples(self, images, labels):
    for i in range(len(labels)):
      yield i, {"image": images[i], "label": int(labels[i])}
