"""Disentanglement of a code against known generative factors (MIG, DCI), and latent traversals.

Codes are continuous (N, K) arrays (e.g. posterior means), factors integer (N, F) indices (the
`factors` of the shapes dataset). Every factor must take at least two values in what is scored: a
constant factor has no information to recover (its entropy is 0 and MIG would divide by it), so
it is refused rather than silently dropped.
"""

import numpy as np

from jaxunsup.errors import UsageError

# DCI's per-factor predictor. disentanglement_lib uses sklearn's GradientBoostingClassifier, which
# takes minutes per factor on 10k points; histogram boosting is fast but has no importances.
# Extremely randomised trees (Geurts et al. 2006) choosing among all code dimensions at every
# split (max_features=None, so an informative dimension is never hidden from a split) give
# impurity importances of the same kind (not the same values: our DCI is comparable across our
# runs, not digit for digit with disentanglement_lib's) in about a second for 10k points and 10
# dimensions; the depth limit keeps trees on pure-noise codes from growing one leaf per point.
DCI_TREES = 50
DCI_MAX_DEPTH = 8
DCI_SEED = 0


def mig(codes_NxK, factors_NxF, num_bins: int = 20) -> tuple[float, np.ndarray]:
  """Mutual Information Gap (Chen et al. 2018, eq. 6): the mean over factors of the gap between the
  two code dimensions sharing most information with it, over its entropy; also the (F,) gaps.

  Each code dimension is cut into `num_bins` equal-width bins, as in disentanglement_lib.
  """
  codes_NxK, factors_NxF = _check(codes_NxK, factors_NxF)
  if codes_NxK.shape[1] < 2:
    raise UsageError("MIG compares the two most informative code dimensions; the code has one")
  if not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
    raise UsageError(f"num_bins must be an integer of at least 2, got {num_bins!r}")
  bins_NxK = discretise(codes_NxK, num_bins)
  gaps_F = np.empty(factors_NxF.shape[1])
  for j, factor_N in enumerate(factors_NxF.T):
    info_K = np.sort([mutual_info(b_N, factor_N) for b_N in bins_NxK.T])[::-1]
    gaps_F[j] = (info_K[0] - info_K[1]) / entropy(factor_N)
  return float(gaps_F.mean()), gaps_F


def dci(codes_train, factors_train, codes_test, factors_test) -> dict:
  """Disentanglement, completeness and informativeness (Eastwood & Williams 2018).

  One classifier per factor (see DCI_TREES) is fit on the train codes; its impurity importances,
  which sum to 1 per factor, are the columns of the importance matrix R (K x F). Returns floats
  `disentanglement`, `completeness`, `informativeness` (mean test accuracy) and the arrays
  `importance_KxF`, `disentanglement_K`, `completeness_F`, `accuracy_F`.
  """
  codes_train, factors_train = _check(codes_train, factors_train)
  codes_test, factors_test = _check(codes_test, factors_test, "test ")
  (_, k), (_, f) = codes_train.shape, factors_train.shape
  if codes_test.shape[1] != k or factors_test.shape[1] != f:
    raise UsageError(f"train and test disagree: codes {k} vs {codes_test.shape[1]} dimensions,"
                     f" factors {f} vs {factors_test.shape[1]}")
  if k < 2 or f < 2:
    raise UsageError(f"DCI needs at least 2 code dimensions and 2 factors, got {k} and {f}")
  # imported here: it takes two seconds, and only runs on datasets with factors need it
  from sklearn.ensemble import ExtraTreesClassifier
  importance_KxF = np.empty((k, f))
  accuracy_F = np.empty(f)
  for j in range(f):
    model = ExtraTreesClassifier(n_estimators=DCI_TREES, max_features=None,
                                 max_depth=DCI_MAX_DEPTH, random_state=DCI_SEED)
    model.fit(codes_train, factors_train[:, j])
    importance_KxF[:, j] = model.feature_importances_
    accuracy_F[j] = model.score(codes_test, factors_test[:, j])
  scores = dci_from_importance(importance_KxF)
  return {**scores, "informativeness": float(accuracy_F.mean()), "accuracy_F": accuracy_F}


def dci_from_importance(importance_KxF) -> dict:
  """D and C of an importance matrix (Eastwood & Williams 2018, section 3): D weights each code's
  1 - H_F(P_i.) by its share of all importance; C is the mean over factors of 1 - H_K(P~_.j).

  disentanglement_lib weights C by each factor's share too; with columns summing to 1, as `dci`
  makes them, the two agree. A code dimension with no importance counts for nothing in D; a factor
  no dimension explains (a tree that never split) has completeness 0.
  """
  r_KxF = np.asarray(importance_KxF, np.float64)
  if r_KxF.ndim != 2 or min(r_KxF.shape) < 2 or not (r_KxF >= 0).all():
    raise UsageError(f"an importance matrix must be non-negative and at least 2x2, got shape"
                     f" {r_KxF.shape}")
  k, f = r_KxF.shape
  disentanglement_K = np.array([1 - _normalised_entropy(row, f) for row in r_KxF])
  completeness_F = np.array([1 - _normalised_entropy(col, k) for col in r_KxF.T])
  total_K = r_KxF.sum(axis=1)
  rho_K = total_K / total_K.sum() if total_K.sum() > 0 else total_K
  return {"disentanglement": float(rho_K @ disentanglement_K),
          "completeness": float(completeness_F.mean()), "importance_KxF": r_KxF,
          "disentanglement_K": disentanglement_K, "completeness_F": completeness_F}


def discretise(codes_NxK, num_bins: int) -> np.ndarray:
  """(N, K) int bin indices 0..num_bins-1: each dimension cut into equal-width bins between its
  minimum and maximum (a constant dimension falls in one bin)."""
  codes_NxK = np.asarray(codes_NxK, np.float64)
  bins_NxK = np.empty(codes_NxK.shape, np.int64)
  for i, code_N in enumerate(codes_NxK.T):
    edges = np.histogram_bin_edges(code_N, num_bins)
    # Inner edges only: the maximum belongs to the last bin, as in np.histogram.
    bins_NxK[:, i] = np.digitize(code_N, edges[1:-1])
  return bins_NxK


def mutual_info(a_N, b_N) -> float:
  """I(a; b) in nats of two discrete variables, from their joint counts."""
  _, a_N = np.unique(np.asarray(a_N), return_inverse=True)
  _, b_N = np.unique(np.asarray(b_N), return_inverse=True)
  joint_AxB = np.zeros((a_N.max() + 1, b_N.max() + 1))
  np.add.at(joint_AxB, (a_N.ravel(), b_N.ravel()), 1)
  joint_AxB /= joint_AxB.sum()
  outer_AxB = joint_AxB.sum(axis=1, keepdims=True) * joint_AxB.sum(axis=0, keepdims=True)
  nonzero = joint_AxB > 0
  return float(np.sum(joint_AxB[nonzero] * np.log(joint_AxB[nonzero] / outer_AxB[nonzero])))


def entropy(a_N) -> float:
  """H(a) in nats of a discrete variable."""
  _, counts = np.unique(np.asarray(a_N), return_counts=True)
  p = counts / counts.sum()
  return float(-np.sum(p * np.log(p)))


def _normalised_entropy(weights, base: int) -> float:
  """Entropy in base `base` of weights scaled to sum to 1; 1 (no structure) for all-zero weights."""
  if weights.sum() <= 0:
    return 1.0
  p = weights / weights.sum()
  p = p[p > 0]
  return float(-np.sum(p * np.log(p)) / np.log(base))


def _check(codes_NxK, factors_NxF, which: str = "") -> tuple[np.ndarray, np.ndarray]:
  """The arrays as float64 codes and integer factors, or a one-line UsageError."""
  codes, factors = np.asarray(codes_NxK), np.asarray(factors_NxF)
  if codes.ndim != 2 or factors.ndim != 2:
    raise UsageError(f"{which}codes and factors must be 2-D (N, K) and (N, F), got shapes"
                     f" {codes.shape} and {factors.shape}")
  if len(codes) != len(factors) or len(codes) < 2:
    raise UsageError(f"{which}codes and factors must hold the same number (>= 2) of examples,"
                     f" got {len(codes)} and {len(factors)}")
  if not np.issubdtype(codes.dtype, np.number) or not np.isfinite(codes).all():
    raise UsageError(f"{which}codes must be finite numbers")
  if not np.issubdtype(factors.dtype, np.integer):
    raise UsageError(f"{which}factors must be integer indices, got {factors.dtype}")
  constant = [j for j, column in enumerate(factors.T) if (column == column[0]).all()]
  if constant:
    raise UsageError(f"{which}factor(s) {constant} take a single value; drop them before scoring")
  return codes.astype(np.float64), factors


def traversal_codes(code_D, dims, span: float = 3.0, steps: int = 10) -> np.ndarray:
  """(len(dims) * steps, D) codes: `code_D` with one dimension at a time swept over
  linspace(-span, span, steps), a row per dimension in the order given (the prior's standard
  deviation is 1, so span 3 covers it)."""
  code_D = np.asarray(code_D, np.float32)
  rows = []
  for d in dims:
    row = np.repeat(code_D[None], steps, axis=0)
    row[:, d] = np.linspace(-span, span, steps)
    rows.append(row)
  return np.concatenate(rows)


def scores(codes_NxK, factors_NxF, seed: int = 0, dci_train: int = 10_000, dci_test: int = 5_000) -> dict:
  """MIG on every example, and DCI fit on a seeded sample of `dci_train` examples and scored on
  `dci_test` others (fewer where there are fewer): the figures a run's summary reports."""
  codes_NxK, factors_NxF = np.asarray(codes_NxK), np.asarray(factors_NxF)
  mig_value, gaps_F = mig(codes_NxK, factors_NxF)
  order = np.random.default_rng(seed).permutation(len(codes_NxK))
  n_train = min(dci_train, len(order) // 2)
  train, test = order[:n_train], order[n_train:n_train + dci_test]
  d = dci(codes_NxK[train], factors_NxF[train], codes_NxK[test], factors_NxF[test])
  return {"mig": mig_value, "mig_per_factor": gaps_F.round(4).tolist(),
          "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
          "dci_informativeness": d["informativeness"]}
