"""GEOM (Golan & El-Yaniv 2018): the 72 transformations against numpy's, the Dirichlet fit and
scores by hand, exact resume of a trial, and the representation study's GEOM rows read back."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.objectives import geom
from jaxunsup.recipes import representations
from jaxunsup.train import checkpoint


class Killed(Exception):
  pass


def _block(**overrides):
  block = study_configs.get_config("smoke").anomaly.geom
  block.update(overrides)
  return block


def _images(n, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)


def test_the_72_transformations_are_flips_mirrored_shifts_and_quarter_turns():
  table = geom.index_table(28, 28, 7)
  assert table.shape == (72, 784) and len({row.tobytes() for row in table}) == 72
  x = _images(3)
  t = np.array([0, 1, 71])  # identity; a quarter turn; flipped, shifted by (7, 7), three turns
  out = np.asarray(geom.transform(jnp.asarray(x), jnp.asarray(t), jnp.asarray(table)))
  np.testing.assert_array_equal(out[0], x[0])
  np.testing.assert_array_equal(out[1], np.rot90(x[1], 1))
  assert geom.transformations(7)[71] == (True, 7, 7, 3)
  flipped = x[2][:, ::-1]
  shifted = np.pad(flipped, ((7, 7), (7, 7), (0, 0)), mode="symmetric")[:28, :28]  # content moves down and right
  np.testing.assert_array_equal(out[2], np.rot90(shifted, 3))


def test_the_dirichlet_fit_recovers_its_parameters():
  alpha = np.array([2.0, 5.0, 3.0])
  p = np.random.default_rng(0).dirichlet(alpha, 20000)
  fitted = np.asarray(geom.dirichlet_mle(jnp.log(jnp.asarray(p, jnp.float32))))
  np.testing.assert_allclose(fitted, alpha, rtol=0.05)


def test_the_scores_by_hand():
  rng = np.random.default_rng(1)
  log_p = np.log(rng.dirichlet(np.ones(3), (2, 3)))  # 2 images, 3 transformations, 3 classes
  alpha = rng.uniform(0.5, 4.0, (3, 3))
  dirichlet, simple = geom.scores(jnp.asarray(log_p), jnp.asarray(alpha))
  for n in range(2):
    np.testing.assert_allclose(dirichlet[n], np.sum((alpha - 1) * log_p[n]), rtol=1e-6)
    np.testing.assert_allclose(simple[n], np.mean([log_p[n, i, i] for i in range(3)]), rtol=1e-6)


def test_a_killed_trial_resumes_to_the_same_scores(tmp_path):
  block = _block(epochs=2)
  normal, test = _images(32), _images(10, seed=1)
  whole = geom.fit(block, normal, test, 0, str(tmp_path / "whole"))
  assert whole["scores"].shape == (2, 10) and np.all(np.isfinite(whole["scores"]))

  def kill(epoch):
    if epoch == 2:
      raise Killed

  trial = str(tmp_path / "killed")
  with pytest.raises(Killed):
    geom.fit(block, normal, test, 0, trial, progress=kill)
  assert checkpoint.manager(trial).latest_step() == 1
  resumed = geom.fit(block, normal, test, 0, trial)
  np.testing.assert_array_equal(resumed["scores"], whole["scores"])
  assert resumed["loss"] == whole["loss"]


@pytest.mark.parametrize("fields,shape,message", [
    ({"shift": 0}, (28, 28, 1), "anomaly.geom.shift must be in 1..27"),
    ({}, (28, 32, 1), "rotations need square images"),
    ({"seeds": ()}, (28, 28, 1), "anomaly.geom.seeds is empty"),
])
def test_bad_settings_are_refused(fields, shape, message):
  with pytest.raises(UsageError, match=message):
    geom.check(_block(**fields), shape)


def test_study_scores_each_class_and_reads_trials_back(tmp_path, monkeypatch):
  c = study_configs.get_config("smoke")
  c.clustering.update(algorithms=("kmeans",), seeds=(0,))
  c.anomaly.update(classes=(1,), methods=("geom",))
  c.maps.update(examples=100, iterations=250)
  c.train_examples = 1500  # about 170 normal images, each under every transformation
  summary = representations.run(c, str(tmp_path))
  for name in ("GEOM Dirichlet", "GEOM simple"):
    row = summary["anomaly"][name]
    assert row["classes"] == [1] and row["seeds"] == [0] and 0.0 <= row["mean"] <= 1.0
  folder = tmp_path / "anomaly" / "geom_c1"
  assert not os.path.exists(folder / "seed0") and np.load(folder / "seed0_scores.npy").shape[0] == 2
  monkeypatch.setattr(geom, "fit", _no_training)  # trials are read back, not run again
  again = representations.run(c, str(tmp_path))
  assert again["anomaly"] == summary["anomaly"]


def _no_training(*args, **kwargs):
  raise AssertionError("a finished trial was trained again")
