"""Sample-quality metrics: FID, precision/recall, class coverage, and the cached evaluator."""

import glob
import os

import numpy as np
import pytest

from jaxunsup import data as data_lib
from jaxunsup.eval import classifier, generative
from jaxunsup.errors import UsageError
from jaxunsup.eval.sample_quality import SampleScorer


def test_fid_is_zero_for_identical_sets_and_positive_otherwise():
  f = np.random.default_rng(0).normal(size=(500, 8))
  assert generative.fid(f, f) == pytest.approx(0.0, abs=1e-8)
  assert generative.fid(f, f + 0.5) == pytest.approx(8 * 0.25, rel=1e-6)  # a shift adds |d|^2 only


def test_frechet_distance_of_known_gaussians():
  d = 6
  mu1, mu2 = np.zeros(d), np.full(d, 2.0)
  # N(mu1, I) vs N(mu2, 4I): |mu1 - mu2|^2 + tr(I) + tr(4I) - 2 tr(2I) = 4d + d + 4d - 4d
  assert generative.frechet_distance(mu1, np.eye(d), mu2, 4 * np.eye(d)) == pytest.approx(5 * d)
  # non-commuting covariances against the textbook formula with scipy's sqrtm
  from scipy import linalg
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
  c1, c2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
  expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * linalg.sqrtm(c1 @ c2).real)
  assert generative.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_samples_from_two_gaussians_approaches_the_closed_form():
  rng = np.random.default_rng(2)
  a = rng.normal(size=(20000, 4))
  b = 2 * rng.normal(size=(20000, 4)) + 1
  assert generative.fid(a, b) == pytest.approx(4 * 1 + 4 * 1 + 4 * 4 - 2 * 4 * 2, rel=0.05)


def _clusters():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(300, 5))
  b = rng.normal(size=(300, 5)) + 100
  return a, b


def test_precision_and_recall_on_toy_point_clouds():
  a, b = _clusters()
  real = np.concatenate([a, b])
  assert generative.precision_recall(real, real) == (1.0, 1.0)
  assert generative.precision_recall(real, real + 1000) == (0.0, 0.0)
  # half the fakes far from every real: precision halves, every real is still covered
  assert generative.precision_recall(real, np.concatenate([real, real + 1000])) == (0.5, 1.0)
  # mode dropping: fakes only in cluster a, so they are all realistic but cover half the reals
  assert generative.precision_recall(real, a) == (1.0, 0.5)


def test_knn_radius_excludes_the_point_itself():
  points = np.array([[0.0], [1.0], [3.0], [7.0]])
  # squared distances to the k-th nearest *other* point
  np.testing.assert_allclose(generative.knn_radii(points, 1), [1.0, 1.0, 4.0, 16.0])
  np.testing.assert_allclose(generative.knn_radii(points, 2), [9.0, 4.0, 9.0, 36.0])


def test_class_coverage_counts_classes_above_five_percent():
  preds = np.array([0] * 90 + [1] * 5 + [2] * 4 + [3])
  assert generative.class_coverage(preds, 10) == 2


def test_evaluator_cache_is_named_by_weight_hash_and_a_bad_file_is_retrained(tmp_path, monkeypatch):
  calls = []

  def fake_train(train, num_classes):
    calls.append(1)
    rng = np.random.default_rng(len(calls))
    shapes = {"Conv_0": {"kernel": (3, 3, 1, 32), "bias": (32,)}, "Conv_1": {"kernel": (3, 3, 32, 64), "bias": (64,)},
              "Dense_0": {"kernel": (3136, 128), "bias": (128,)}, "Dense_1": {"kernel": (128, 10), "bias": (10,)}}
    return {m: {k: rng.normal(size=s).astype(np.float32) for k, s in p.items()} for m, p in shapes.items()}

  monkeypatch.setattr(classifier, "_train", fake_train)
  # in this process, so the fake training is the one that runs
  monkeypatch.setattr(classifier, "_train_elsewhere", classifier.train_and_write)
  monkeypatch.setattr(data_lib, "prepare", lambda *a, **k: None)
  monkeypatch.setattr(data_lib, "load", lambda *a, **k: {"image": None, "label": None})
  first = classifier.load_or_train("mnist", str(tmp_path), verbose=False)
  again = classifier.load_or_train("mnist", str(tmp_path), verbose=False)
  assert len(calls) == 1 and again.path == first.path
  import hashlib
  with open(first.path, "rb") as f:
    assert hashlib.sha256(f.read()).hexdigest()[:12] in os.path.basename(first.path)
  features, predicted = again.apply(np.zeros((3, 28, 28, 1), np.uint8))
  assert features.shape == (3, 128) and predicted.shape == (3,)
  with open(first.path, "r+b") as f:
    f.write(b"tampered")
  classifier.load_or_train("mnist", str(tmp_path), verbose=False)
  assert len(calls) == 2
  assert len(glob.glob(str(tmp_path / "evaluators" / "*.msgpack"))) == 2


def test_the_evaluator_trains_without_the_tests_fast_compile_flag():
  # tests/conftest.py compiles at optimisation level 0, which changes the trained weights
  env = classifier.training_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=8 "
                                              "--xla_backend_optimization_level=0", "HOME": "/h"})
  assert env == {"XLA_FLAGS": "--xla_force_host_platform_device_count=8", "HOME": "/h"}
  assert "optimization_level" not in classifier.training_env()["XLA_FLAGS"]


def test_real_mnist_train_images_score_near_the_floor():
  # The sanity row of docs/results.md: real images against the test split on the real evaluator.
  scorer = SampleScorer.create("mnist")
  assert scorer.test_accuracy > 0.98
  train = data_lib.load("mnist", "train")
  real = scorer(train["image"][:5000])
  assert real["class_coverage"] == 10 and not real["collapsed"]
  # measured: fid 2.31, precision 0.865, recall 0.853 (evaluator evalnet-v1, test accuracy 0.9861)
  assert real["fid"] < 5.0 and real["precision"] > 0.75 and real["recall"] > 0.75
  blank = scorer(np.zeros((500, 28, 28, 1), np.uint8))
  # k-NN precision alone is fooled here (a blank image falls inside some outlier's ball): the
  # reason the summary reports recall, FID and coverage beside it
  assert blank["collapsed"] and blank["recall"] == 0.0 and blank["fid"] > 100 * real["fid"]
  floats = train["image"][:500].astype(np.float32) / 255
  assert scorer(floats)["class_coverage"] == 10
  one_nan = floats.copy()
  one_nan[3, 10, 10, 0] = np.nan
  for bad, message in [(floats * 255, "must lie in \\[0, 1\\], found 0 to 255"),
                       (one_nan, "samples hold 1 NaN or infinite value"),
                       (np.zeros((4, 28, 28, 1), np.int64), "uint8 or floats")]:
    with pytest.raises(UsageError, match=message):
      scorer(bad)
