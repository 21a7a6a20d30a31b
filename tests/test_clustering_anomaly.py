"""Hungarian ACC, k-means scores, AUROC and the centre distance, against brute force and sklearn."""

import itertools

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from jaxunsup.eval import anomaly, clustering


def _brute_force_acc(labels, clusters, k):
  return max(np.mean(np.array(perm)[clusters] == labels) for perm in itertools.permutations(range(k)))


def test_hungarian_accuracy_by_hand_and_by_brute_force():
  labels = np.array([0, 0, 1, 1, 2, 2])
  assert clustering.hungarian_accuracy(labels, np.array([1, 1, 0, 2, 2, 2])) == pytest.approx(5 / 6)
  assert clustering.hungarian_accuracy(labels, np.array([2, 2, 0, 0, 1, 1])) == 1.0
  rng = np.random.default_rng(0)
  for _ in range(20):
    labels, clusters = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
    assert clustering.hungarian_accuracy(labels, clusters) == pytest.approx(_brute_force_acc(labels, clusters, 4))


def test_kmeans_finds_separated_blobs_and_repeats_itself():
  rng = np.random.default_rng(1)
  centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  labels = np.repeat(np.arange(3), 50)
  points = centres[labels] + rng.normal(size=(150, 2))
  out = clustering.kmeans_scores(points, labels, 3, seeds=(0, 1), n_init=2)
  assert out["acc_mean"] == 1.0 and out["nmi_mean"] == pytest.approx(1.0) and out["ari_mean"] == pytest.approx(1.0)
  assert out["acc_std"] == 0.0 and len(out["per_seed"]) == 2
  assert clustering.kmeans_scores(points, labels, 3, seeds=(0, 1), n_init=2) == out
  shuffled = clustering.kmeans_scores(rng.normal(size=(150, 2)), labels, 3, seeds=(0,), n_init=1)
  assert shuffled["acc_mean"] < 0.6 and shuffled["ari_mean"] < 0.1


def test_auroc_by_hand_with_ties_and_against_sklearn():
  assert anomaly.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
  assert anomaly.auroc([1.0, 1.0], [0, 1]) == pytest.approx(0.5)
  assert anomaly.auroc([0.0, 1.0], [1, 0]) == 0.0
  rng = np.random.default_rng(2)
  for _ in range(10):
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    is_anomaly = rng.random(200) < 0.3
    assert anomaly.auroc(scores, is_anomaly) == pytest.approx(roc_auc_score(is_anomaly, scores))


def test_auroc_refuses_one_sided_or_non_finite_scores():
  with pytest.raises(ValueError, match="both"):
    anomaly.auroc([0.1, 0.2], [1, 1])
  with pytest.raises(ValueError, match="finite"):
    anomaly.auroc([np.nan, 0.2], [0, 1])


def test_centre_distance_is_one_minus_cosine_to_the_mean_direction():
  normal = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
  queries = np.array([[5.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [1.0, 1.0]])
  np.testing.assert_allclose(anomaly.centre_distance(normal, queries), [0.0, 1.0, 2.0, 1 - np.sqrt(0.5)],
                             atol=1e-12)


def test_knn_distance_is_the_mean_distance_to_the_k_nearest_normal_examples():
  normal = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
  queries = np.array([[0.0, 0.0], [3.0, 4.0]])
  np.testing.assert_allclose(anomaly.knn_distance(normal, queries, k=1), [0.0, 3.0], atol=1e-7)
  np.testing.assert_allclose(anomaly.knn_distance(normal, queries, k=2), [1.5, 3.5], atol=1e-7)
  rng = np.random.default_rng(0)
  normal, queries = rng.normal(size=(50, 3)), rng.normal(size=(7, 3))
  brute = np.sort(np.linalg.norm(queries[:, None] - normal[None], axis=2), axis=1)[:, :5].mean(1)
  np.testing.assert_allclose(anomaly.knn_distance(normal, queries, k=5, chunk=3), brute, rtol=1e-9)
  with pytest.raises(ValueError, match="k must be"):
    anomaly.knn_distance(normal, queries, k=51)


def test_spectral_clustering_separates_rings_that_kmeans_cannot():
  rng = np.random.default_rng(3)
  labels = np.repeat(np.arange(2), 200)
  angle = rng.uniform(0, 2 * np.pi, 400)
  radius = np.where(labels == 0, 1.0, 4.0) + rng.normal(scale=0.1, size=400)
  rings = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
  spectral = clustering.spectral_scores(rings, labels, 2, seeds=(0, 1), n_neighbors=10)
  assert spectral["acc_mean"] == 1.0 and spectral["ari_mean"] == pytest.approx(1.0)
  assert clustering.kmeans_scores(rings, labels, 2, seeds=(0,), n_init=2)["acc_mean"] < 0.7
