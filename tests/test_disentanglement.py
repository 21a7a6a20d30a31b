"""MIG and DCI: by hand on tiny cases, and on codes that copy, mix or ignore known factors."""

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from jaxunsup.errors import UsageError
from jaxunsup.eval import disentanglement as dz

SIZES = (3, 4, 5)


def _grid(repeats: int = 40) -> np.ndarray:
  """Every combination of SIZES `repeats` times: factors exactly independent of each other."""
  grid = np.indices(SIZES).reshape(len(SIZES), -1).T
  return np.tile(grid, (repeats, 1))


def _scores(codes_NxK, factors_NxF) -> tuple:
  """(MIG, D, C, I), DCI fit on the even rows and tested on the odd ones."""
  d = dz.dci(codes_NxK[::2], factors_NxF[::2], codes_NxK[1::2], factors_NxF[1::2])
  return (dz.mig(codes_NxK, factors_NxF)[0], d["disentanglement"], d["completeness"],
          d["informativeness"])


def test_mutual_info_and_entropy_by_hand():
  a, b = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])
  # p(a, b) = 1/2 at (0, 0), 1/4 at (1, 0) and (1, 1); p(a) = (1/2, 1/2), p(b) = (3/4, 1/4).
  expected = 0.5 * np.log(4 / 3) + 0.25 * np.log(2 / 3) + 0.25 * np.log(2)
  assert dz.mutual_info(a, b) == pytest.approx(expected)
  assert dz.mutual_info(a, a) == pytest.approx(np.log(2)) == dz.entropy(a)
  assert dz.mutual_info(a, np.array([0, 1, 0, 1])) == pytest.approx(0.0, abs=1e-12)
  rng = np.random.default_rng(0)
  x, y = rng.integers(0, 5, 300), rng.integers(0, 3, 300)
  assert dz.mutual_info(x, y) == pytest.approx(mutual_info_score(x, y))


def test_discretise_uses_equal_width_bins():
  codes = np.array([[0.0, 7.0], [0.49, 7.0], [0.5, 7.0], [1.0, 7.0]])
  bins = dz.discretise(codes, 2)
  np.testing.assert_array_equal(bins[:, 0], [0, 0, 1, 1])
  assert len(set(bins[:, 1])) == 1  # a constant dimension is one bin
  assert dz.discretise(np.linspace(0, 1, 101)[:, None], 20).max() == 19


def test_dci_from_importance_by_hand():
  eye = dz.dci_from_importance(np.eye(3))
  assert eye["disentanglement"] == pytest.approx(1.0) and eye["completeness"] == pytest.approx(1.0)
  flat = dz.dci_from_importance(np.ones((4, 3)))
  assert flat["disentanglement"] == pytest.approx(0.0) and flat["completeness"] == pytest.approx(0.0)
  # One code explains both factors equally: complete, not disentangled.
  one = dz.dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
  assert one["disentanglement"] == pytest.approx(0.0) and one["completeness"] == pytest.approx(1.0)


def test_copied_factors_score_one_and_noise_scores_zero():
  factors = _grid()
  rng = np.random.default_rng(0)
  copy = factors * [1.0, -2.0, 0.5]
  # Independent factors, one bin per value: the runner-up shares exactly nothing.
  assert dz.mig(copy, factors)[0] == pytest.approx(1.0, abs=1e-9)
  # Noise dimensions share a little by chance (MI's positive bias on 2,400 points).
  copy = np.concatenate([copy, rng.normal(size=(len(factors), 2))], axis=1)
  mig, d, c, i = _scores(copy, factors)
  assert mig > 0.97 and d > 0.99 and c > 0.99 and i == 1.0
  noise = rng.normal(size=(len(factors), 5))
  mig, d, c, i = _scores(noise, factors)
  assert mig < 0.05 and d < 0.1 and c < 0.1
  assert i < 0.5  # chance is 1/3, 1/4, 1/5


def test_mixing_two_factors_scores_lower_than_copying():
  factors = _grid()
  z = (factors - factors.mean(0)) / factors.std(0)
  copy = z
  mixed = np.stack([z[:, 0] + z[:, 1], z[:, 0] - z[:, 1], z[:, 2]], axis=1)  # rotated by 45 deg
  mig_copy, d_copy, c_copy, _ = _scores(copy, factors)
  mig_mixed, d_mixed, c_mixed, i_mixed = _scores(mixed, factors)
  assert mig_mixed < mig_copy - 0.2
  assert d_mixed < d_copy - 0.2 and c_mixed < c_copy - 0.2
  assert i_mixed == 1.0  # nothing is lost, only entangled


def test_dci_is_deterministic():
  factors = _grid(10)
  codes = np.random.default_rng(1).normal(size=(len(factors), 4)) + factors[:, :1]
  first = _scores(codes, factors)
  assert _scores(codes, factors) == first


@pytest.mark.parametrize("codes, factors, match", [
    (np.zeros(6), np.zeros((6, 2), int), "2-D"),
    (np.zeros((6, 2)), np.zeros((5, 2), int), "same number"),
    (np.full((6, 2), np.nan), np.tile([[0, 1], [1, 0]], (3, 1)), "finite"),
    (np.zeros((6, 2)), np.tile([[0.0, 1.0], [1.0, 0.0]], (3, 1)), "integer"),
    (np.zeros((6, 2)), np.tile([[0, 1], [0, 0]], (3, 1)), r"\[0\] take a single value"),
])
def test_bad_inputs_raise_usage_errors(codes, factors, match):
  with pytest.raises(UsageError, match=match):
    dz.mig(codes, factors)
  with pytest.raises(UsageError, match=match):
    dz.dci(codes, factors, codes, factors)


def test_metric_specific_refusals():
  factors = np.tile([[0, 1], [1, 0]], (3, 1))
  with pytest.raises(UsageError, match="one"):
    dz.mig(np.zeros((6, 1)), factors)
  with pytest.raises(UsageError, match="num_bins"):
    dz.mig(np.zeros((6, 2)), factors, num_bins=1)
  with pytest.raises(UsageError, match="disagree"):
    dz.dci(np.zeros((6, 2)), factors, np.zeros((6, 3)), factors)
  with pytest.raises(UsageError, match="at least 2"):
    dz.dci(np.zeros((6, 1)), factors, np.zeros((6, 1)), factors)
