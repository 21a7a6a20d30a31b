"""Deep SVDD: preprocessing, centre and distances by hand, the bias-free network, exact resume of
a trial, and the representation study's Deep SVDD row read back on rerun."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import anomaly
from jaxunsup.models.lenet import LeNetDecoder, LeNetEncoder
from jaxunsup.objectives import deep_svdd
from jaxunsup.recipes import representations
from jaxunsup.train import checkpoint


class Killed(Exception):
  pass


def test_contrast_normalisation_and_scaling_by_hand():
  normal = np.array([[0, 2], [1, 5]], np.uint8).reshape((2, 1, 2, 1))
  # image 1: mean 1, deviations -1, 1 (mean |.| 1); image 2: mean 3, deviations -2, 2 (mean |.| 2)
  np.testing.assert_allclose(deep_svdd.contrast_normalise(normal).ravel(), [-1, 1, -1, 1])
  other = np.array([[0, 0], [4, 0]], np.uint8).reshape((2, 1, 2, 1))  # a constant image stays 0
  scaled_normal, scaled_other = deep_svdd.preprocess(normal, other)
  np.testing.assert_allclose(scaled_normal.ravel(), [0, 1, 0, 1])  # the normal range -1..1 -> 0..1
  np.testing.assert_allclose(scaled_other.ravel(), [0.5, 0.5, 1, 0])


def test_centre_distances_and_losses_by_hand():
  codes = jnp.array([[0.2, 0.05, -0.04, 0.0], [0.4, 0.05, 0.0, 0.0]])
  # mean [0.3, 0.05, -0.02, 0]: the last three are within eps = 0.1 of zero
  np.testing.assert_allclose(deep_svdd.initial_centre(codes, 0.1), [0.3, 0.1, -0.1, 0.1], rtol=1e-6)
  np.testing.assert_allclose(deep_svdd.initial_centre(codes, 0.0), [0.3, 0.05, -0.02, 0.0], rtol=1e-6)
  z, c = jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([1.0, 1.0])
  np.testing.assert_allclose(deep_svdd.distances(z, c), [1.0, 13.0])
  x, recon = jnp.zeros((2, 1, 2, 1)), jnp.array([1.0, 2.0, 0.0, 3.0]).reshape((2, 1, 2, 1))
  np.testing.assert_allclose(deep_svdd.reconstruction_loss(recon, x), (5.0 + 9.0) / 2)


def test_the_network_has_no_bias_and_mirrors_28x28():
  enc, dec = LeNetEncoder((8, 4), 32), LeNetDecoder((8, 4), 32, 1)
  x = jax.random.uniform(jax.random.key(0), (3, 28, 28, 1))
  variables = enc.init(jax.random.key(1), x, False)
  names = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(variables["params"])]
  assert names and all("kernel" in n for n in names)  # no bias, no batch-norm scale or shift
  # So the zero image has the zero code: no map can send every input to a nonzero centre for free.
  np.testing.assert_array_equal(enc.apply(variables, jnp.zeros((1, 28, 28, 1)), False), np.zeros((1, 32)))
  z = enc.apply(variables, x, False)
  dec_vars = dec.init(jax.random.key(2), z, False)
  out = dec.apply(dec_vars, z, False)
  assert out.shape == (3, 28, 28, 1) and bool(jnp.all((out > 0) & (out < 1)))


def _block(**fields):
  c = study_configs.get_config("smoke").anomaly.deep_svdd
  c.update(fields)
  return c


def _images(n, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 28, 28, 1)).astype(np.uint8)


def test_a_killed_trial_resumes_to_the_same_scores(tmp_path):
  # 2 pretraining and 2 one-class epochs of one batch, a checkpoint after each. Killed during
  # pretraining (last checkpoint: epoch 1), right after the switch's checkpoint (epoch 2: the resumed trial
  # computes the centre again) and in the one-class phase (epoch 3: the centre is restored).
  block = _block(ae_epochs=2, epochs=2, checkpoint_epochs=1)
  normal, test = _images(32), _images(20, seed=1)  # one step an epoch: a step costs 0.2 s at -O0
  whole = deep_svdd.fit(block, normal, test, 0, str(tmp_path / "whole"))
  assert whole["scores"].shape == (20,) and np.all(np.isfinite(whole["scores"]))
  assert np.isfinite(whole["ae_loss"]) and np.isfinite(whole["svdd_loss"])
  for last_checkpoint in (1, 2, 3):

    def kill(epoch):
      if epoch == last_checkpoint + 1:
        raise Killed

    trial = str(tmp_path / f"killed{last_checkpoint}")
    with pytest.raises(Killed):
      deep_svdd.fit(block, normal, test, 0, trial, progress=kill)
    assert checkpoint.manager(trial).latest_step() == last_checkpoint
    resumed = deep_svdd.fit(block, normal, test, 0, trial)
    np.testing.assert_array_equal(resumed["scores"], whole["scores"])
    assert (resumed["ae_loss"], resumed["svdd_loss"]) == (whole["ae_loss"], whole["svdd_loss"])
  other = deep_svdd.fit(block, normal, test, 1, str(tmp_path / "other"))
  assert not np.array_equal(other["scores"], whole["scores"])


@pytest.mark.parametrize("fields,shape,message", [
    ({"rep_dim": 24}, (28, 28, 1), "rep_dim a multiple of 16"),
    ({}, (32, 32, 3), "takes 28x28 images, not 32x32"),
    ({"seeds": ()}, (28, 28, 1), "anomaly.deep_svdd.seeds is empty"),
])
def test_bad_settings_are_refused(fields, shape, message):
  with pytest.raises(UsageError, match=message):
    deep_svdd.check(_block(**fields), shape)
  with pytest.raises(UsageError, match="batch_size 32 is larger than the 20 normal train images"):
    deep_svdd.check_size(_block(), 20)


def test_study_scores_each_class_and_reads_trials_back(tmp_path, monkeypatch):
  c = study_configs.get_config("smoke")
  c.clustering.update(algorithms=("kmeans",), seeds=(0,))
  c.anomaly.update(classes=(1,), methods=("deep_svdd",))
  c.anomaly.deep_svdd.seeds = (0, 1)
  c.maps.update(examples=100, iterations=250)
  c.train_examples = 1500  # about 170 normal images: 5 steps an epoch
  summary = representations.run(c, str(tmp_path))
  row = summary["anomaly"]["Deep SVDD"]
  assert row["classes"] == [1] and row["seeds"] == [0, 1] and np.shape(row["per_seed"]) == (1, 2)
  assert row["per_class"] == pytest.approx(np.mean(row["per_seed"], axis=1).tolist())
  assert 0.5 < row["mean"] <= 1.0  # even three epochs put the normal class nearer its centre
  assert row["per_class_std"][0] == pytest.approx(np.std(row["per_seed"][0], ddof=1))
  folder = tmp_path / "anomaly" / "deep_svdd_c1"
  assert not os.path.exists(folder / "seed0")  # its checkpoints, removed once it finished
  with open(folder / "seed1.json") as f:
    assert set(json.load(f)) == {"ae_loss", "svdd_loss", "seconds"}
  test = data.load("mnist", "test")
  scores = np.load(folder / "seed1_scores.npy")
  assert anomaly.auroc(scores, test["label"][:len(scores)] != 1) == row["per_seed"][0][1]
  assert os.path.getsize(tmp_path / "deep_svdd_extremes.png") > 0
  assert "± " in (tmp_path / "representations.md").read_text()
  monkeypatch.setattr(deep_svdd, "fit", _no_training)  # trials are read back, not run again
  again = representations.run(c, str(tmp_path))
  assert again["anomaly"] == summary["anomaly"]


def _no_training(*args, **kwargs):
  raise AssertionError("a finished trial was trained again")
