"""UMAP and N2D: the neighbour graph's strengths and union by hand, the similarity curve against
the reference's constants, separable blobs clustered exactly and the same way twice, bad settings,
and the representation study's N2D rows and UMAP maps."""

import json
import os

import numpy as np
import pytest

from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import clustering, n2d, umap
from jaxunsup.recipes import representations


def test_nearest_is_euclidean_and_never_the_point_itself():
  z = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 0.5]])
  distances, indices = umap.nearest(z, 2, chunk=3)  # chunks that split the rows
  np.testing.assert_array_equal(indices, [[3, 1], [0, 3], [1, 0], [0, 1]])
  np.testing.assert_allclose(distances[0], [0.5, 1.0], atol=1e-6)
  np.testing.assert_allclose(distances[1], [1.0, np.sqrt(1.25)], atol=1e-6)


def test_memberships_by_hand():
  # Distances 1, 2, 3: rho = 1, and 1 + u + u^2 = log2(4) = 2 with u = exp(-1 / sigma) gives
  # u = (sqrt(5) - 1) / 2, so the strengths are 1, u and u^2.
  u = (np.sqrt(5.0) - 1.0) / 2.0
  np.testing.assert_allclose(umap.memberships(np.array([[1.0, 2.0, 3.0]])), [[1.0, u, u * u]], rtol=1e-6)


def test_fuzzy_union_by_hand():
  indices = np.array([[1], [0], [0]])
  graph = umap.fuzzy_graph(indices, np.array([[0.5], [0.4], [1.0]])).toarray()
  np.testing.assert_allclose(graph, [[0.0, 0.5 + 0.4 - 0.2, 1.0], [0.7, 0.0, 0.0], [1.0, 0.0, 0.0]])


def test_curve_matches_the_reference_constants():
  # umap-learn's a and b for its defaults (min_dist 0.1, spread 1): 1.577 and 0.8951.
  a, b = umap.curve(0.1, 1.0)
  assert a == pytest.approx(1.577, abs=2e-3) and b == pytest.approx(0.8951, abs=1e-3)


def _blobs(n_per=60, seed=0):
  rng = np.random.default_rng(seed)
  centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0], [0.0, 0.0, 8.0]])
  z = np.concatenate([c + 0.5 * rng.normal(size=(n_per, 3)) for c in centres])
  return z, np.repeat(np.arange(len(centres)), n_per)


def _block(**fields):
  block = study_configs.base().clustering.n2d
  block.update(neighbours=10, epochs=50, batches=2)
  block.update(fields)
  return block


def test_separable_blobs_are_clustered_exactly_and_the_same_way_twice():
  # UMAP's full 200 epochs: after 50 the clumps still touched (gaps of about 3 against clump widths
  # of about 4), and one machine's float rounding was enough to let the mixture cut across one.
  # After 200 the gaps are about 7 and the widths about 3, on every seed tried.
  block = _block(epochs=200)
  z, labels = _blobs()
  made = n2d.graph(z, block, 4, labels)
  assert made.purity == 1.0
  first = n2d.fit(block, made, 4, seed=0)
  assert clustering.hungarian_accuracy(labels, first["labels"]) == 1.0
  assert first["embedding"].shape == (240, 4)
  np.testing.assert_array_equal(n2d.fit(block, made, 4, seed=0)["embedding"], first["embedding"])
  assert not np.array_equal(n2d.fit(block, made, 4, seed=1)["embedding"], first["embedding"])


@pytest.mark.parametrize("fields,message", [
    ({"neighbours": 1}, "neighbours must be >= 2"),
    ({"dim": -1}, "dim must be >= 0"),
    ({"batches": 0}, "epochs, negatives, batches and n_init must be >= 1"),
    ({"n_init": 0}, "epochs, negatives, batches and n_init must be >= 1"),
    ({"min_dist": 2.0}, "needs 0 <= min_dist <= spread"),
    ({"covariance": "banana"}, "covariance 'banana' is not one of full"),
])
def test_bad_settings_are_refused(fields, message):
  with pytest.raises(UsageError, match=message):
    n2d.check(_block(**fields))


def test_too_few_images_are_refused():
  with pytest.raises(UsageError, match="10 clusters cannot be made of 8 images"):
    n2d.check_size(_block(), 8, 10)
  with pytest.raises(UsageError, match="more images than its 10 neighbours and 4 embedding dimensions; 9 are"):
    n2d.check_size(_block(dim=3), 9, 3)


def _study_config():
  c = study_configs.get_config("smoke")
  c.clustering.algorithms = ("kmeans", "n2d")
  c.test_examples = 400  # a full-covariance mixture of 784 raw pixels costs N * 784^2
  c.anomaly.methods = ()
  c.maps.update(method="umap", examples=100)
  return c


def test_study_runs_n2d_trials_draws_umap_maps_and_reads_them_back(tmp_path):
  summary = representations.run(_study_config(), str(tmp_path))
  rows = {(r["method"], r["algorithm"]): r for r in summary["clustering"]["rows"]}
  assert set(rows) == {(m, a) for m in ("raw pixels", "pca 8") for a in ("kmeans", "n2d")}
  assert summary["maps"] == ["PCA of pixels", "UMAP of raw pixels"] and os.path.getsize(tmp_path / "maps.png") > 0
  for method in ("raw pixels", "pca 8"):
    row = rows[(method, "n2d")]
    assert len(row["per_seed"]) == 2 and row["acc_min"] <= row["acc_mean"] <= row["acc_max"]
    assert 0.3 < row["acc_mean"] <= 1 and 0.1 < row["features_gmm_acc_mean"] <= 1
    assert 0.5 < row["neighbour_purity"] <= 1
    folder = tmp_path / "clustering" / f"{method.replace(' ', '_')}_n2d"
    assert os.path.getsize(folder / "clusters.png") > 0
    with open(folder / "seed1.json") as f:
      assert json.load(f)["seed"] == 1
  again = representations.run(_study_config(), str(tmp_path))  # trials read back, not rerun
  assert again["clustering"] == summary["clustering"]
