"""Scores images against a dataset's test split on the project's evaluation classifier.

python experiments/score_samples.py --samples=runs/demo/vae/samples.npy --dataset=mnist
python experiments/score_samples.py --samples=train --dataset=mnist   # the floor: real train images

--samples is a .npy file of N x 28 x 28 x 1 images (uint8, or floats in [0, 1]), or `train` for
the first --num train images. Prints FID, precision, recall and class coverage as JSON (see
jaxunsup/eval/sample_quality.py); the numbers are comparable inside this project only.
"""

import json
import os

import numpy as np
from absl import flags

from jaxunsup import cli
from jaxunsup import data as data_lib
from jaxunsup.errors import UsageError
from jaxunsup.eval.sample_quality import SampleScorer

_SAMPLES = flags.DEFINE_string("samples", None, "A .npy file of images, or `train`.")
_DATASET = flags.DEFINE_string("dataset", "mnist", "Dataset whose test split is the reference.")
_NUM = flags.DEFINE_integer("num", 10000, "Score at most this many images.")
flags.mark_flags_as_required(["samples"])


def main(argv):
  if len(argv) > 1:
    raise UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  data_lib.spec(_DATASET.value)  # unknown dataset: one-line error before any work
  if _SAMPLES.value == "train":
    data_lib.prepare(_DATASET.value)
    images = data_lib.load(_DATASET.value, "train")["image"]
  else:
    if not os.path.isfile(_SAMPLES.value):
      raise UsageError(f"--samples {_SAMPLES.value} is not a file")
    try:
      images = np.load(_SAMPLES.value, allow_pickle=False)
    except ValueError as e:
      raise UsageError(f"cannot read {_SAMPLES.value} as a .npy array ({e})") from None
  scores = SampleScorer.create(_DATASET.value)(images[:_NUM.value])
  print(json.dumps({"samples": _SAMPLES.value, "dataset": _DATASET.value, **scores}, indent=2))


if __name__ == "__main__":
  cli.run(main)
