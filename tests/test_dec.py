"""DEC and IDEC: the assignments, target and losses by hand, exact resume of a trial, and the
representation study's DEC and IDEC rows from a trained autoencoder."""

import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.configs import representations as study_configs
from jaxunsup.errors import UsageError
from jaxunsup.eval import clustering
from jaxunsup.objectives import dec
from jaxunsup.recipes import autoencoder, representations
from jaxunsup.train import checkpoint, loop


def test_soft_assignment_and_target_by_hand():
  # codes 0 and 1, centres 0 and 2: squared distances [[0, 4], [1, 1]], kernel 1 / (1 + d^2)
  q = jnp.exp(dec.log_soft_assign(jnp.array([[0.0], [1.0]]), jnp.array([[0.0], [2.0]])))
  np.testing.assert_allclose(q, [[1 / 1.2, 0.2 / 1.2], [0.5, 0.5]], rtol=1e-6)
  # cluster weights f = [4/3, 2/3]: the tie of the second image goes to the smaller cluster
  np.testing.assert_allclose(dec.target_distribution(q), [[25 / 27, 2 / 27], [1 / 3, 2 / 3]], rtol=1e-5)
  # alpha changes the kernel's tail: (1 + d^2 / 2)^(-3/2)
  q2 = jnp.exp(dec.log_soft_assign(jnp.array([[1.0]]), jnp.array([[0.0], [3.0]]), alpha=2.0))
  w = np.array([1.5 ** -1.5, 3.0 ** -1.5])
  np.testing.assert_allclose(q2, [w / w.sum()], rtol=1e-6)


def test_kl_by_hand():
  p = jnp.array([[0.5, 0.5], [1.0, 0.0]])
  log_q = jnp.log(jnp.array([[0.8, 0.2], [0.9, 0.1]]))  # a zero target adds nothing
  want = (0.5 * np.log(0.5 / 0.8) + 0.5 * np.log(0.5 / 0.2) + np.log(1 / 0.9)) / 2
  np.testing.assert_allclose(dec.kl_divergence(p, log_q), want, rtol=1e-6)
  np.testing.assert_allclose(dec.kl_divergence(p[:1], jnp.log(p[:1])), 0.0, atol=1e-7)


def _linear_nets(rng, pixels=4, dim=2):
  w = jax.random.normal(rng, (pixels, dim))
  v = jax.random.normal(jax.random.fold_in(rng, 1), (dim, pixels))
  return dec.Networks(encode=lambda p, x: x.reshape((x.shape[0], -1)) @ p,
                      decode=lambda p, z: (z @ p).reshape((z.shape[0], 2, 2, 1)), encoder_params=w,
                      decoder_params=v)


def test_idec_loss_is_reconstruction_plus_gamma_kl():
  nets = _linear_nets(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (5, 2, 2, 1))
  centres = jnp.array([[0.0, 0.0], [1.0, -1.0], [2.0, 1.0]])
  p = jax.nn.softmax(jax.random.normal(jax.random.key(2), (5, 3)))
  z = x.reshape((5, -1)) @ nets.encoder_params
  kl = dec.kl_divergence(p, dec.log_soft_assign(z, centres))
  mse = jnp.mean(jnp.square(jax.nn.sigmoid(z @ nets.decoder_params).reshape(x.shape) - x))
  params = {"encoder": nets.encoder_params, "centres": centres}
  loss, _ = dec.loss_fn(params, x, p, nets=nets, alpha=1.0, gamma=0.1)
  np.testing.assert_allclose(loss, kl, rtol=1e-6)  # DEC: no decoder, the KL alone
  loss, metrics = dec.loss_fn({**params, "decoder": nets.decoder_params}, x, p, nets=nets, alpha=1.0, gamma=0.1)
  np.testing.assert_allclose(loss, mse + 0.1 * kl, rtol=1e-6)
  np.testing.assert_allclose(metrics["mse"], mse, rtol=1e-6)


def _block(**fields):
  c = study_configs.get_config("smoke").clustering
  return ml_collections.ConfigDict({**c.idec.to_dict(), **fields})


def _images(n=120, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (n, 2, 2, 1), dtype=np.uint8)


class Killed(Exception):
  pass


def test_a_killed_trial_resumes_to_the_same_clusters(tmp_path):
  # Random images and tol 0: every update moves some labels, so any difference would show.
  nets, images = _linear_nets(jax.random.key(3)), _images()
  block = _block(update_interval=3, max_iter=15, batch_size=16, tol=0.0, checkpoint_updates=2)
  key = ("test", "linear", "resume")
  whole = dec.fit("idec", block, key, nets, images, 3, seed=1, trial_dir=str(tmp_path / "whole"))
  assert whole["steps"] == 15 and whole["stopped"] == "max_iter"

  def kill(update):
    if update == 3:  # after the checkpoint of update 2
      raise Killed

  with pytest.raises(Killed):
    dec.fit("idec", block, key, nets, images, 3, seed=1, trial_dir=str(tmp_path / "killed"), progress=kill)
  assert checkpoint.manager(str(tmp_path / "killed")).latest_step() == 2
  resumed = dec.fit("idec", block, key, nets, images, 3, seed=1, trial_dir=str(tmp_path / "killed"))
  np.testing.assert_array_equal(resumed["labels"], whole["labels"])
  assert resumed["changed"] == whole["changed"] and resumed["steps"] == whole["steps"]
  other = dec.fit("idec", block, key, nets, images, 3, seed=2, trial_dir=str(tmp_path / "other"))
  assert not np.array_equal(other["kmeans_labels"], whole["kmeans_labels"])  # the seed starts k-means


def test_separable_data_is_clustered_exactly_and_stops_by_tol(tmp_path):
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(3), 40)
  images = (np.array([20, 120, 230])[labels][:, None, None, None] + rng.integers(0, 10, (120, 2, 2, 1))).astype(np.uint8)
  nets = dec.Networks(encode=lambda p, x: x.reshape((x.shape[0], -1)) @ p, decode=None,
                      encoder_params=jnp.eye(4)[:, :2])
  out = dec.fit("dec", _block(update_interval=5, max_iter=200, batch_size=16, optimizer="sgd",
                              learning_rate=0.01), ("test", "eye"), nets, images, 3, seed=0, trial_dir=str(tmp_path))
  assert clustering.hungarian_accuracy(labels, out["labels"]) == 1.0
  assert out["stopped"] == "tol" and out["steps"] < 200


@pytest.mark.parametrize("fields,message", [
    ({"optimizer": "rmsprop"}, "optimizer must be one of sgd, adam"),
    ({"update_interval": 0}, "update_interval must be >= 1"),
    ({"tol": 1.0}, "tol in [0, 1)"),
])
def test_bad_settings_are_refused(fields, message):
  with pytest.raises(UsageError, match=message.replace("[", r"\[").replace(")", r"\)")):
    dec.check(_block(**fields), "idec")


def test_too_few_images_are_refused():
  with pytest.raises(UsageError, match="10 clusters cannot be made of 8 images"):
    dec.check_size(_block(), "dec", 8, 10)
  with pytest.raises(UsageError, match="batch_size 64 is larger than the 40 images"):
    dec.check_size(_block(), "dec", 40, 10)


@pytest.fixture(scope="module")
def ae_source(tmp_path_factory):
  """A smoke MLP autoencoder: the kind of source DEC starts from."""
  c = ae_configs.get_config("smoke")
  train, test = data.load_splits(c.data)
  workdir = str(tmp_path_factory.mktemp("dec_source") / "mlp")
  loop.train(c, workdir, autoencoder.make_task(c, data.input_spec("mnist"), test["image"][:64] / 255.0), train)
  return workdir


def _study_config(source):
  c = study_configs.get_config("smoke")
  c.sources = (source,)
  c.clustering.algorithms = ("kmeans", "dec", "idec")
  c.anomaly.methods = ()
  c.maps.update(examples=100, iterations=250)
  return c


def test_study_runs_dec_and_idec_trials_and_reads_them_back(tmp_path, ae_source):
  summary = representations.run(_study_config(ae_source), str(tmp_path))
  rows = {(r["method"], r["algorithm"]): r for r in summary["clustering"]["rows"]}
  assert set(rows) >= {("mlp", "kmeans"), ("mlp", "dec"), ("mlp", "idec")}
  assert ("raw pixels", "dec") not in rows  # only autoencoder sources are trained
  for name in ("dec", "idec"):
    row = rows[("mlp", name)]
    assert len(row["per_seed"]) == 2 and row["acc_min"] <= row["acc_mean"] <= row["acc_max"]
    assert 0.1 < row["acc_mean"] <= 1 and 0 < row["steps_mean"] <= 20
    folder = tmp_path / "clustering" / f"mlp_{name}"
    assert os.path.getsize(folder / "clusters.png") > 0
    assert not os.path.exists(folder / "seed0")  # its checkpoints, removed once it finished
    with open(folder / "seed1.json") as f:
      assert json.load(f)["seed"] == 1
  assert "ACC min-max" in (tmp_path / "representations.md").read_text()
  again = representations.run(_study_config(ae_source), str(tmp_path))  # trials read back, not rerun
  assert again["clustering"] == summary["clustering"]
