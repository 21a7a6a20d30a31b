"""Clustering a representation (k-means, spectral), scored against the labels it never saw.

The clusterings that train the encoder too (DEC, IDEC) are in objectives/dec.py."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics
from sklearn.cluster import KMeans, SpectralClustering


def _matched(labels_N: np.ndarray, clusters_N: np.ndarray) -> tuple:
  """(counts[cluster, class], clusters, their classes) under the one-to-one map that agrees with
  the labels most often (Hungarian algorithm)."""
  labels_N, clusters_N = np.asarray(labels_N), np.asarray(clusters_N)
  size = max(labels_N.max(), clusters_N.max()) + 1
  counts = np.zeros((size, size), np.int64)
  np.add.at(counts, (clusters_N, labels_N), 1)
  rows, cols = linear_sum_assignment(counts, maximize=True)
  return counts, rows, cols


def hungarian_accuracy(labels_N: np.ndarray, clusters_N: np.ndarray) -> float:
  """Accuracy under the one-to-one cluster -> class map that maximises it (Hungarian algorithm)."""
  counts, rows, cols = _matched(labels_N, clusters_N)
  return float(counts[rows, cols].sum() / len(labels_N))


def hungarian_map(labels_N: np.ndarray, clusters_N: np.ndarray) -> dict:
  """{cluster: class} of that map."""
  _, rows, cols = _matched(labels_N, clusters_N)
  return {int(r): int(c) for r, c in zip(rows, cols)}


def scores(labels_N: np.ndarray, clusters_N: np.ndarray) -> dict:
  """ACC (Hungarian), NMI and ARI of one clustering."""
  return {"acc": hungarian_accuracy(labels_N, clusters_N),
          "nmi": float(metrics.normalized_mutual_info_score(labels_N, clusters_N)),
          "ari": float(metrics.adjusted_rand_score(labels_N, clusters_N))}


def summarize(runs: list, seeds) -> dict:
  """The mean, sample std, min and max of each score over runs (one per seed), and the runs."""
  out = {"seeds": list(seeds), "per_seed": runs}
  for name in ("acc", "nmi", "ari"):
    values = np.array([r[name] for r in runs])
    out[f"{name}_mean"] = float(values.mean())
    out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out[f"{name}_min"], out[f"{name}_max"] = float(values.min()), float(values.max())
  return out


def _over_seeds(cluster, labels_N: np.ndarray, seeds) -> dict:
  """Scores of `cluster(seed)` for every seed, summarized."""
  return summarize([scores(labels_N, cluster(seed)) for seed in seeds], seeds)


def kmeans_scores(features_NxD: np.ndarray, labels_N: np.ndarray, k: int, seeds, n_init: int = 10) -> dict:
  """k-means once per seed (each the best of `n_init` starts)."""
  z = np.asarray(features_NxD, np.float64)
  return _over_seeds(lambda seed: KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(z),
                     labels_N, seeds)


def spectral_scores(features_NxD: np.ndarray, labels_N: np.ndarray, k: int, seeds,
                    n_neighbors: int = 10) -> dict:
  """Spectral clustering of the symmetrised `n_neighbors`-nearest-neighbour graph, once per seed.

  k-means wants round clusters of similar spread; a class that is one connected but stretched
  region of feature space (digits written at many slants) is one cluster here. Labels come from
  the spectral embedding by QR pivoting (Damle et al. 2019), which has no random restarts; the seed
  only starts the eigensolver.
  """
  z = np.asarray(features_NxD, np.float64)

  def cluster(seed):
    return SpectralClustering(n_clusters=k, affinity="nearest_neighbors", n_neighbors=n_neighbors,
                              assign_labels="cluster_qr", random_state=seed).fit_predict(z)

  return _over_seeds(cluster, labels_N, seeds)
