import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from jaxunsup.eval.knn import knn_predict


def test_one_nearest_neighbour_matches_scikit_learn_cosine():
  rng = np.random.default_rng(0)
  bank, labels = rng.normal(size=(200, 8)), rng.integers(0, 5, 200)
  query = rng.normal(size=(300, 8))
  ours = knn_predict(bank, labels, query, k=1, num_classes=5, chunk=128)
  theirs = KNeighborsClassifier(1, metric="cosine").fit(bank, labels).predict(query)
  np.testing.assert_array_equal(ours, theirs)


def test_votes_separate_clusters_and_k_is_capped_by_the_bank():
  rng = np.random.default_rng(1)
  centres = np.eye(3) * 5
  bank = np.repeat(centres, 4, axis=0) + 0.3 * rng.normal(size=(12, 3))
  labels = np.repeat(np.arange(3), 4)
  query = centres + 0.3 * rng.normal(size=(3, 3))
  np.testing.assert_array_equal(knn_predict(bank, labels, query, k=50, num_classes=3, temperature=0.05),
                                [0, 1, 2])
