"""Sample-quality metrics on feature vectors: FID, precision/recall (k-NN manifolds), class coverage.

All functions take features as (N, D) arrays (the evaluation classifier's penultimate layer in this
project, see eval/classifier.py) and compute in float64 numpy, so they are deterministic and
independent of the accelerator.
"""

import numpy as np


def gaussian_stats(features_NxD: np.ndarray) -> tuple:
  """Mean and (unbiased) covariance of a feature set."""
  f = np.asarray(features_NxD, np.float64)
  return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
  """Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

  tr(sqrt(cov1 cov2)) is computed as the sum of square roots of the eigenvalues of the symmetric
  matrix s1 cov2 s1 with s1 = sqrt(cov1): no complex parts and no failing `sqrtm` on singular
  covariances, which ReLU features often have.
  """
  vals1, vecs1 = np.linalg.eigh(cov1)
  s1 = (vecs1 * np.sqrt(np.clip(vals1, 0, None))) @ vecs1.T
  middle = s1 @ cov2 @ s1
  tr_sqrt = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)))
  diff = np.asarray(mu1) - np.asarray(mu2)
  return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
  """Fréchet distance between Gaussians fitted to two feature sets."""
  return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


def _sq_dists(a_NxD: np.ndarray, b_MxD: np.ndarray) -> np.ndarray:
  d = (a_NxD * a_NxD).sum(1)[:, None] + (b_MxD * b_MxD).sum(1)[None, :] - 2 * a_NxD @ b_MxD.T
  return np.maximum(d, 0)


def knn_radii(features_NxD: np.ndarray, k: int, chunk: int = 2000) -> np.ndarray:
  """Squared distance from each point to its k-th nearest other point of the same set."""
  f = np.asarray(features_NxD, np.float64)
  radii = np.empty(len(f))
  for i in range(0, len(f), chunk):
    d = _sq_dists(f[i:i + chunk], f)
    # index k, not k - 1: each point's nearest neighbour in its own set is itself, at distance 0.
    radii[i:i + chunk] = np.partition(d, k, axis=1)[:, k]
  return radii


def manifold_coverage(queries_NxD, points_MxD, radii_M, chunk: int = 2000) -> float:
  """Fraction of queries inside at least one ball (point, radius)."""
  q = np.asarray(queries_NxD, np.float64)
  p = np.asarray(points_MxD, np.float64)
  inside = [np.any(_sq_dists(q[i:i + chunk], p) <= radii_M[None, :], axis=1)
            for i in range(0, len(q), chunk)]
  return float(np.mean(np.concatenate(inside)))


def precision_recall(real_NxD: np.ndarray, fake_MxD: np.ndarray, k: int = 3,
                     real_radii_N: np.ndarray | None = None) -> tuple:
  """Improved precision and recall (Kynkäänniemi et al. 2019).

  Precision: the fraction of fakes inside the real manifold, the union of balls around each real
  point reaching its k-th nearest real neighbour. Recall: the fraction of reals inside the fake
  manifold, built the same way. `real_radii_N` (knn_radii(real_NxD, k)) may be passed when the
  same reals score many fake sets.
  """
  if real_radii_N is None:
    real_radii_N = knn_radii(real_NxD, k)
  precision = manifold_coverage(fake_MxD, real_NxD, real_radii_N)
  recall = manifold_coverage(real_NxD, fake_MxD, knn_radii(fake_MxD, k))
  return precision, recall


def class_coverage(predicted_labels_N: np.ndarray, num_classes: int, min_share: float = 0.05) -> int:
  """How many classes the classifier assigns to at least `min_share` of the samples."""
  counts = np.bincount(np.asarray(predicted_labels_N), minlength=num_classes)
  return int(np.sum(counts >= min_share * len(predicted_labels_N)))
