"""PCA, the linear baseline every autoencoder is measured against."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class PCA:
  mean_P: np.ndarray
  components_KxP: np.ndarray

  def encode(self, x_NxP: np.ndarray) -> np.ndarray:
    """Coordinates of `x` on the principal axes."""
    return (np.asarray(x_NxP, np.float64) - self.mean_P) @ self.components_KxP.T

  def decode(self, z_NxK: np.ndarray) -> np.ndarray:
    """Points in input space with coordinates `z`."""
    return z_NxK @ self.components_KxP + self.mean_P


def fit(x_NxP: np.ndarray, dim: int) -> PCA:
  """Top-`dim` principal axes of `x`, from the eigendecomposition of its covariance (float64).

  With fewer points than values (N < P, say a few thousand 64x64 colour images) the N x N Gram
  matrix gives the same axes at a fraction of the P x P cost; axes beyond the points' span
  (eigenvalue 0) are dropped, since they reconstruct nothing.
  """
  x = np.asarray(x_NxP, np.float64)
  if not 1 <= dim <= x.shape[1]:
    raise ValueError(f"PCA dimension {dim} must be in [1, {x.shape[1]}]")
  mean_P = x.mean(0)
  centred = x - mean_P
  if len(x) < x.shape[1]:
    eigvals, eigvecs = np.linalg.eigh(centred @ centred.T)
    order = np.argsort(eigvals)[::-1][:dim]
    order = order[eigvals[order] > 1e-9 * max(eigvals.max(), 1e-300)]
    components = (centred.T @ eigvecs[:, order] / np.sqrt(eigvals[order])).T
    dim = len(order)
  else:
    eigvals, eigvecs = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigvals)[::-1][:dim]
    components = eigvecs[:, order].T
  # eigh fixes no sign; make the largest entry of each axis positive so results are reproducible.
  signs = np.sign(components[np.arange(dim), np.abs(components).argmax(1)])
  return PCA(mean_P, components * signs[:, None])


def reconstruction_mse(train_NxP: np.ndarray, test_NxP: np.ndarray, dim: int) -> float:
  """Mean squared error per value of test points reconstructed by the train split's PCA."""
  pca = fit(train_NxP, dim)
  total = 0.0
  for i in range(0, len(test_NxP), 1000):  # float64 copies of a chunk at a time, not of the split
    test = np.asarray(test_NxP[i:i + 1000], np.float64)
    total += float(np.sum(np.square(pca.decode(pca.encode(test)) - test)))
  return total / np.size(test_NxP)
