"""Class-balanced labelled subsets for label-efficiency sweeps."""

import numpy as np

from jaxunsup.errors import UsageError


def balanced_subset(labels_N: np.ndarray, per_class: int, seed: int) -> np.ndarray:
  """Sorted indices of `per_class` examples of every class (0: every example).

  A function of (labels, per_class, seed) only, so every objective of a sweep sees the same
  examples; for one seed the subsets are nested (the 10 per class are among the 100 per class).
  """
  labels_N = np.asarray(labels_N)
  if not isinstance(per_class, (int, np.integer)) or per_class < 0:
    raise UsageError(f"labels per class must be a non-negative integer, got {per_class!r}")
  if per_class == 0:
    return np.arange(len(labels_N))
  classes, counts = np.unique(labels_N, return_counts=True)
  if per_class > counts.min():
    raise UsageError(f"{per_class} labels per class asked for, but class {classes[counts.argmin()]} "
                     f"has only {counts.min()} examples")
  rng = np.random.default_rng(seed)
  # One permutation of the whole split, then each class in that order: nesting across sizes.
  order = rng.permutation(len(labels_N))
  picked = [order[labels_N[order] == c][:per_class] for c in classes]
  return np.sort(np.concatenate(picked))
