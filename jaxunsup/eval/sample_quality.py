"""Scores a set of generated images against a dataset's test split on the evaluation classifier.

    scorer = SampleScorer.create("mnist")
    scorer(samples_uint8_NxHxWxC)  # {"fid", "precision", "recall", "class_coverage", ...}

Any model's samples can be scored this way (GANs, the VAE, or files from outside tools:
experiments/score_samples.py). The numbers are comparable inside this project only.
"""

import dataclasses
from typing import Optional

import numpy as np

from jaxunsup import data as data_lib
from jaxunsup.errors import UsageError
from jaxunsup.eval import classifier, generative
from jaxunsup.train import compiled

COLLAPSED_COVERAGE = 2  # a generator covering at most this many classes is reported as collapsed


def check_pixels(images: np.ndarray) -> None:
  """UsageError unless `images` are uint8, or finite floats in [0, 1] (a little float rounding
  aside): floats in 0..255 would be scored as mostly white, silently."""
  if images.dtype == np.uint8:
    return
  if not np.issubdtype(images.dtype, np.floating):
    raise UsageError(f"samples must be uint8 or floats in [0, 1], got dtype {images.dtype}")
  bad = int(np.sum(~np.isfinite(images)))
  if bad:
    raise UsageError(f"samples hold {bad} NaN or infinite values")
  low, high = float(images.min()), float(images.max())
  if low < -1e-4 or high > 1 + 1e-4:
    raise UsageError(f"float samples must lie in [0, 1], found {low:g} to {high:g}; "
                     "pass uint8 for images in 0..255")


@dataclasses.dataclass
class SampleScorer:
  """The evaluator and the test split's features, with the statistics every score reuses."""
  evaluator: classifier.Evaluator
  ref_features: np.ndarray
  ref_stats: tuple
  ref_radii: np.ndarray
  k: int
  test_accuracy: float

  @classmethod
  def create(cls, dataset: str, data_dir: Optional[str] = None, k: int = 3) -> "SampleScorer":
    data_lib.prepare(dataset, data_dir)
    evaluator = classifier.load_or_train(dataset, data_dir)
    test = data_lib.load(dataset, "test", data_dir)
    features, predicted = evaluator.apply(test["image"])
    return cls(evaluator, features, generative.gaussian_stats(features),
               generative.knn_radii(features, k), k, float(np.mean(predicted == test["label"])))

  def __call__(self, samples_NxHxWxC: np.ndarray, labels_N: Optional[np.ndarray] = None) -> dict:
    """FID, precision, recall (k-NN), class coverage; with `labels_N`, how often the classifier
    agrees with the label a conditional model was asked for."""
    samples = np.asarray(samples_NxHxWxC)
    expected = tuple(data_lib.spec(self.evaluator.dataset).shape)
    if samples.ndim == 3:
      samples = samples[..., None]
    if samples.ndim != 4 or samples.shape[1:] != expected or len(samples) < 2:
      raise UsageError(f"samples of shape {np.shape(samples_NxHxWxC)} do not fit {self.evaluator.dataset} "
                       f"images {expected}; expected N x {' x '.join(map(str, expected))} with N >= 2")
    check_pixels(samples)
    features, predicted = self.evaluator.apply(samples)
    precision, recall = generative.precision_recall(self.ref_features, features, self.k, self.ref_radii)
    scores = {
        "fid": generative.frechet_distance(*generative.gaussian_stats(features), *self.ref_stats),
        "precision": precision,
        "recall": recall,
        "class_coverage": generative.class_coverage(predicted, self.evaluator.num_classes),
        "num_samples": len(samples),
        "evaluator_test_accuracy": self.test_accuracy,
    }
    scores["collapsed"] = scores["class_coverage"] <= COLLAPSED_COVERAGE
    if labels_N is not None:
      scores["conditional_accuracy"] = float(np.mean(predicted == np.asarray(labels_N)))
    return scores


def cached_scorer(dataset: str, k: int = 3) -> SampleScorer:
  """SampleScorer.create for the default data dir, built once per process (a few seconds each;
  its evaluator's jitted forward is then shared by every run that scores samples)."""
  return compiled.once(("sample_scorer", dataset, k), lambda: SampleScorer.create(dataset, k=k))
