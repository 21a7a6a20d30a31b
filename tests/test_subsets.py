import numpy as np
import pytest

from jaxunsup.data.subsets import balanced_subset
from jaxunsup.errors import UsageError

LABELS = np.random.default_rng(0).integers(0, 10, 5000)


def test_balanced_deterministic_and_nested():
  small = balanced_subset(LABELS, 10, seed=3)
  assert np.array_equal(np.bincount(LABELS[small], minlength=10), np.full(10, 10))
  assert np.array_equal(small, balanced_subset(LABELS, 10, seed=3))
  assert not np.array_equal(small, balanced_subset(LABELS, 10, seed=4))
  large = balanced_subset(LABELS, 100, seed=3)
  assert np.isin(small, large).all() and len(np.unique(large)) == 1000
  assert np.array_equal(balanced_subset(LABELS, 0, seed=3), np.arange(len(LABELS)))


def test_more_labels_than_a_class_has_is_refused():
  with pytest.raises(UsageError, match="has only"):
    balanced_subset(LABELS, int(np.bincount(LABELS).min()) + 1, seed=0)
  with pytest.raises(UsageError):
    balanced_subset(LABELS, -1, seed=0)
