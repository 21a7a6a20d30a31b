"""M2 and M1+M2 (Kingma et al. 2014): the bounds by hand, the loss's weighting, and the m2
evaluation of the label sweep on an M1 run."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup.configs.autoencoder import get_config as ae_config
from jaxunsup.configs.pretrain_finetune import get_config
from jaxunsup.errors import UsageError
from jaxunsup import semi
from jaxunsup.objectives import m2
from jaxunsup import data
from jaxunsup.objectives import registry
from jaxunsup.recipes import pretrain_finetune
from jaxunsup.train import loop

D, K, Z = 4, 3, 2


def _block(**overrides):
  block = get_config("smoke").m2
  block.update({"hidden": 3, "latent_dim": Z, **overrides})
  return block


def _softplus(x):
  return np.log1p(np.exp(x))


def _mlp(params, x):
  h = _softplus(x @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"])
  return h @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]


def _bound_by_hand(params, x, y, eps, likelihood):
  stats = _mlp(params["encoder"], np.concatenate([x, y], -1))
  mean, logvar = stats[:, :Z], stats[:, Z:]
  z = mean + np.exp(0.5 * logvar) * eps
  out = _mlp(params["decoder"], np.concatenate([z, y], -1))
  if likelihood == "bernoulli":
    p = 1 / (1 + np.exp(-out))
    log_px = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), -1)
  else:
    x_mean, x_logvar = out[:, :D], out[:, D:]
    log_px = np.sum(-0.5 * (np.log(2 * np.pi) + x_logvar + (x - x_mean) ** 2 / np.exp(x_logvar)), -1)
  kl = 0.5 * np.sum(np.exp(logvar) + mean ** 2 - 1 - logvar, -1)
  return log_px - np.log(K) - kl


def _model(likelihood):
  built = m2.build(_block(), D, likelihood, K, num_unlabelled=600, num_labelled=6)
  state = built.init(jax.random.key(0))
  params = {"classifier": state.classifier.params, "encoder": state.encoder.params,
            "decoder": state.decoder.params}
  return built, jax.tree.map(lambda a: np.asarray(a, np.float64), params), params


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_the_labelled_bound_by_hand(likelihood):
  built, params64, params = _model(likelihood)
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(5, D)).round() if likelihood == "bernoulli" else rng.normal(size=(5, D))
  y = np.eye(K)[[0, 1, 2, 0, 1]]
  eps = rng.normal(size=(5, Z))
  got = m2.labelled_bound(built.nets, params, jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32),
                          jnp.asarray(eps, jnp.float32), likelihood)
  np.testing.assert_allclose(got, _bound_by_hand(params64, x, y, eps, likelihood), rtol=1e-5, atol=1e-5)


def test_the_unlabelled_bound_sums_every_class_under_the_classifier():
  built, params64, params = _model("gaussian")
  rng = np.random.default_rng(1)
  x = rng.normal(size=(6, D))
  eps = rng.normal(size=(K, 6, Z))
  u, log_q = m2.unlabelled_bound(built.nets, params, jnp.asarray(x, jnp.float32), jnp.asarray(eps, jnp.float32),
                                 "gaussian")
  logits = _mlp(params64["classifier"], x)
  q = np.exp(logits - logits.max(-1, keepdims=True))
  q /= q.sum(-1, keepdims=True)
  bounds = np.stack([_bound_by_hand(params64, x, np.eye(K)[[c] * 6], eps[c], "gaussian") for c in range(K)], -1)
  np.testing.assert_allclose(log_q, np.log(q), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(u, np.sum(q * (bounds - np.log(q)), -1), rtol=1e-5, atol=1e-4)
  # a certain classifier leaves the bound of its class: no entropy, no other class
  certain = jax.tree.map(jnp.copy, params)
  certain["classifier"]["Dense_1"]["bias"] = jnp.array([0.0, 80.0, 0.0])
  u1, _ = m2.unlabelled_bound(built.nets, certain, jnp.asarray(x, jnp.float32), jnp.asarray(eps, jnp.float32),
                              "gaussian")
  np.testing.assert_allclose(u1, bounds[:, 1], rtol=1e-4, atol=1e-3)


def test_the_loss_weights_the_labelled_bound_by_n_over_N_and_the_classifier_by_alpha():
  built, params64, params = _model("gaussian")
  rng = np.random.default_rng(2)
  batch = {"x": jnp.asarray(rng.normal(size=(4, D)), jnp.float32),
           "lx": jnp.asarray(rng.normal(size=(4, D)), jnp.float32), "label": jnp.array([0, 1, 2, 1])}
  key = jax.random.key(3)
  loss, metrics = m2.loss_fn(params, built.nets, batch, key, alpha=0.1, labelled_weight=6 / 600,
                             likelihood="gaussian", latent_dim=Z, num_classes=K)
  _, _, e_u, e_l = jax.random.split(key, 4)  # deterministic features: the draws are the means
  u, _ = m2.unlabelled_bound(built.nets, params, batch["x"], jax.random.normal(e_u, (K, 4, Z)), "gaussian")
  l = m2.labelled_bound(built.nets, params, batch["lx"], jax.nn.one_hot(batch["label"], K),
                        jax.random.normal(e_l, (4, Z)), "gaussian")
  logits = _mlp(params64["classifier"], np.asarray(batch["lx"], np.float64))
  ce = np.mean(np.log(np.exp(logits).sum(-1)) - logits[np.arange(4), [0, 1, 2, 1]])
  np.testing.assert_allclose(metrics["ce"], ce, rtol=1e-5)
  np.testing.assert_allclose(loss, -np.mean(u) - 0.01 * np.mean(l) + 0.1 * ce, rtol=1e-5)


def test_inputs_are_drawn_as_the_source_says():
  rng = jax.random.key(0)
  mean = jnp.full((2000, 3), 0.25)
  binary = m2.draw_input(mean, None, rng, "bernoulli")
  assert set(np.unique(binary)) == {0.0, 1.0} and abs(float(binary.mean()) - 0.25) < 0.02
  assert m2.draw_input(mean, None, rng, "gaussian") is mean
  z1 = m2.draw_input(mean, jnp.full((2000, 3), math.log(4.0)), rng, "gaussian")
  assert abs(float(z1.std()) - 2.0) < 0.1 and abs(float(z1.mean()) - 0.25) < 0.1


def test_bad_m2_blocks_are_refused():
  with pytest.raises(UsageError, match="m2.hidden must be a positive integer"):
    m2.check(_block(hidden=0))
  with pytest.raises(UsageError, match="m2.alpha must be positive"):
    m2.check(_block(alpha=0.0))
  with pytest.raises(UsageError, match="unknown m2 likelihood"):
    m2.build(_block(), D, "poisson", K, 10, 1)


@pytest.fixture(scope="module")
def m1_run(tmp_path_factory):
  """A VAE run of the autoencoder family, 20 smoke steps on 640 MNIST images: the sweep tests' M1.
  (The loop alone writes what `jaxunsup.load` opens; the recipe's test figures are not needed.)"""
  config = ae_config("smoke")
  config.model.name = "vae"
  config.train.update(steps=20, eval_every=20, checkpoint_every=20)
  workdir = str(tmp_path_factory.mktemp("m1") / "vae")
  train, _ = data.load_splits(config.data)
  parts = registry.build("autoencoder", "vae", config, data.input_spec("mnist"))
  loop.train(config, workdir, registry.task(parts), {"image": train["image"][:640]})
  return workdir


def _m1m2_config(init_from):
  config = get_config("smoke")
  config.finetune.update(init_from=init_from, evaluations=("m2",))
  config.m2.active_std = 0.0  # twenty steps leave few latents active; keep them all
  return config


def test_m1_plus_m2_cells_run_on_the_vae_posterior_and_read_back(m1_run, tmp_path, monkeypatch):
  config = _m1m2_config(m1_run)
  summary = pretrain_finetune.train_and_evaluate(config, str(tmp_path / "sweep"))
  (cell,) = summary["cells"]
  assert (cell["objective"], cell["evaluation"], cell["seeds"]) == ("vae", "m2", 2)
  assert all(0 <= a <= 1 for a in cell["accuracies"])
  with open(tmp_path / "sweep" / "finetune" / "vae_m2_3pc_seed0" / "config.json") as f:
    features = json.load(f)["features"]
  assert features == {"dim": 8, "likelihood": "gaussian", "source": "posterior (8 of 8 latents active)"}
  assert os.path.getsize(tmp_path / "sweep" / "m2_curves.png") > 0
  # finished cells are read back, not trained again
  monkeypatch.setattr("jaxunsup.semi.train_cell", lambda *a, **k: pytest.fail("trained twice"))
  again = pretrain_finetune.train_and_evaluate(config, str(tmp_path / "sweep"))
  assert again["cells"][0]["accuracies"] == cell["accuracies"]


def test_an_m1_run_is_for_m2_alone(m1_run, tmp_path):
  config = _m1m2_config(m1_run)
  config.finetune.evaluations = ("linear_probe", "m2")
  with pytest.raises(UsageError, match="only the m2 evaluation reads"):
    pretrain_finetune.train_and_evaluate(config, str(tmp_path / "a"))
  config = _m1m2_config(m1_run)
  config.m2.alpha = 0.0
  with pytest.raises(UsageError, match="m2.alpha"):
    pretrain_finetune.train_and_evaluate(config, str(tmp_path / "b"))
  assert not os.listdir(tmp_path)


def test_m2_alone_reads_the_pixels_as_bernoulli_intensities():
  images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
  feats = semi.features(get_config("smoke").m2, None, images, images[:2])
  assert (feats.likelihood, feats.source, feats.train_logvar) == ("bernoulli", "pixels", None)
  np.testing.assert_allclose(feats.train, images.reshape((5, 784)) / 255.0, rtol=1e-6)
  assert feats.test.shape == (2, 784)
