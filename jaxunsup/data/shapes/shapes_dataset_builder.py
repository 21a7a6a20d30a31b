"""Sprites with known generative factors, rendered by this project (no download, no TensorFlow).

See jaxunsup/data/sprites.py for the factors and what each index draws. Each example holds the
image, its shape as the label and the six factor indices; train is the whole grid, test a fixed
10% sample of it (not held out: for quick evaluations that want a smaller split).
"""

import tensorflow_datasets as tfds

from jaxunsup.data import builder
from jaxunsup.data import specs
from jaxunsup.data import sprites
from jaxunsup.errors import UsageError


class Builder(builder.QuietBuilder, skip_registration=True):
  """18,432 28x28 sprites: every combination of shape, scale, rotation, x, y and brightness."""

  name = "shapes"
  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release: 3x4x8x8x8x3 grid; test a 10% sample, seed 0."}

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
        builder=self,
        description="Procedurally drawn shapes with ground-truth factors, in the spirit of"
                    " dSprites (Matthey et al. 2017).",
        features=builder.image_features(specs.SPECS[self.name]),
        supervised_keys=("image", "label"),
        disable_shuffling=True,  # grid order; training code shuffles for itself
        metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    if self._from_manual_dir:
      raise UsageError("shapes is rendered by jaxunsup itself; it takes no --source_dir")
    factors_NxF = sprites.factor_grid()
    images = sprites.render(factors_NxF)
    self.info.metadata.update(
        source="the renderer in jaxunsup/data/sprites.py",
        factors=[list(f) for f in specs.SPECS[self.name].factors],
        test_fraction=sprites.TEST_FRACTION, test_seed=sprites.TEST_SEED)
    return {split: self._generate_examples(images, factors_NxF, rows)
            for split, rows in sprites.split_indices().items()}

  def _generate_examples(self, images, factors_NxF, rows):
    for i in rows:
      yield int(i), {"image": images[i], "label": int(factors_NxF[i, 0]),
                     "factors": factors_NxF[i]}
