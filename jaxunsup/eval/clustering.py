"""Clustering scores: k-means on a representation, scored against the labels it never saw."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics
from sklearn.cluster import KMeans


def hungarian_accuracy(labels_N: np.ndarray, clusters_N: np.ndarray) -> float:
  """Accuracy under the one-to-one cluster -> class map that maximises it (Hungarian algorithm)."""
  labels_N, clusters_N = np.asarray(labels_N), np.asarray(clusters_N)
  size = max(labels_N.max(), clusters_N.max()) + 1
  counts = np.zeros((size, size), np.int64)
  np.add.at(counts, (clusters_N, labels_N), 1)
  rows, cols = linear_sum_assignment(counts, maximize=True)
  return float(counts[rows, cols].sum() / len(labels_N))


def scores(labels_N: np.ndarray, clusters_N: np.ndarray) -> dict:
  """ACC (Hungarian), NMI and ARI of one clustering."""
  return {"acc": hungarian_accuracy(labels_N, clusters_N),
          "nmi": float(metrics.normalized_mutual_info_score(labels_N, clusters_N)),
          "ari": float(metrics.adjusted_rand_score(labels_N, clusters_N))}


def kmeans_scores(features_NxD: np.ndarray, labels_N: np.ndarray, k: int, seeds, n_init: int = 10) -> dict:
  """k-means once per seed (each the best of `n_init` starts); the mean, std and per-seed scores."""
  runs = []
  for seed in seeds:
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(
        np.asarray(features_NxD, np.float64))
    runs.append(scores(labels_N, clusters))
  out = {"seeds": list(seeds), "per_seed": runs}
  for name in ("acc", "nmi", "ari"):
    values = np.array([r[name] for r in runs])
    out[f"{name}_mean"] = float(values.mean())
    out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
  return out
