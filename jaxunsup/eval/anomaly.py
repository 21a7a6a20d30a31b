"""One-class anomaly detection: AUROC of anomaly scores, and a feature-space score."""

import numpy as np
from scipy.stats import rankdata


def auroc(scores_N: np.ndarray, is_anomaly_N: np.ndarray) -> float:
  """Area under the ROC curve of `scores` (higher = more anomalous), ties counted as half.

  The Mann-Whitney form: the chance that a random anomaly scores above a random normal example.
  """
  scores_N, positive = np.asarray(scores_N, np.float64), np.asarray(is_anomaly_N, bool)
  n_pos, n_neg = int(positive.sum()), int((~positive).sum())
  if n_pos == 0 or n_neg == 0:
    raise ValueError("AUROC needs both anomalies and normal examples")
  if not np.all(np.isfinite(scores_N)):
    raise ValueError("anomaly scores must be finite")
  ranks = rankdata(scores_N)  # average ranks: ties count half
  return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def unit(x_NxD: np.ndarray) -> np.ndarray:
  """Rows scaled to unit length (zero rows stay zero)."""
  x = np.asarray(x_NxD, np.float64)
  return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def centre_distance(normal_NxD: np.ndarray, queries_MxD: np.ndarray) -> np.ndarray:
  """1 - cosine similarity between each query and the mean direction of the normal class."""
  centre = unit(unit(normal_NxD).mean(0, keepdims=True))[0]
  return 1.0 - unit(queries_MxD) @ centre


def knn_distance(normal_NxD: np.ndarray, queries_MxD: np.ndarray, k: int, chunk: int = 2000) -> np.ndarray:
  """Mean Euclidean distance from each query to its k nearest normal examples.

  Unlike `centre_distance` it does not assume the normal class is one blob around its mean: a
  query near any part of the normal class scores low (Bergman et al. 2020, "Deep Nearest Neighbor
  Anomaly Detection"). Features on the unit sphere make it a cosine kNN distance.
  """
  if not 1 <= k <= len(normal_NxD):
    raise ValueError(f"k must be in 1..{len(normal_NxD)}, got {k}")
  normal = np.asarray(normal_NxD, np.float64)
  sq_normal = np.sum(np.square(normal), axis=1)
  out = []
  for i in range(0, len(queries_MxD), chunk):
    q = np.asarray(queries_MxD[i:i + chunk], np.float64)
    d2 = np.sum(np.square(q), axis=1, keepdims=True) + sq_normal - 2.0 * q @ normal.T
    nearest = np.partition(d2, k - 1, axis=1)[:, :k]
    out.append(np.mean(np.sqrt(np.maximum(nearest, 0.0)), axis=1))
  return np.concatenate(out)
