import numpy as np

from jaxunsup.eval import pca


def test_pca_recovers_a_plane_exactly():
  rng = np.random.default_rng(0)
  basis = rng.normal(size=(2, 5))
  x = rng.normal(size=(200, 2)) @ basis + 3.0
  assert pca.reconstruction_mse(x[:150], x[150:], 2) < 1e-20
  assert pca.reconstruction_mse(x[:150], x[150:], 1) > 1e-3


def test_pca_matches_svd_and_is_sign_stable():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(100, 6)) * np.arange(1, 7)
  fitted = pca.fit(x, 3)
  _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
  np.testing.assert_allclose(np.abs(fitted.components_KxP), np.abs(vt[:3]), atol=1e-10)
  np.testing.assert_array_equal(pca.fit(x, 3).components_KxP, fitted.components_KxP)
  # the sign rule: each axis's entry of largest magnitude is positive, whatever eigh returned
  c = fitted.components_KxP
  assert np.all(c[np.arange(3), np.abs(c).argmax(1)] > 0)
  np.testing.assert_allclose(pca.fit(x[:, ::-1], 3).components_KxP, c[:, ::-1], atol=1e-10)


def test_fewer_points_than_values_use_the_gram_matrix():
  """N < P (a few large images): the axes of the N x N route are the SVD's, and axes beyond the
  points' span are dropped rather than made up."""
  rng = np.random.default_rng(2)
  x = rng.normal(size=(20, 50)) * np.linspace(3, 1, 50)
  fitted = pca.fit(x, 5)
  _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
  np.testing.assert_allclose(np.abs(fitted.components_KxP), np.abs(vt[:5]), atol=1e-10)
  c = fitted.components_KxP
  assert np.all(c[np.arange(5), np.abs(c).argmax(1)] > 0)
  whole = pca.fit(x, 30)  # 20 centred points span 19 axes
  assert whole.components_KxP.shape == (19, 50)
  assert pca.reconstruction_mse(x, x, 30) < 1e-20
