"""beta-VAE and beta-TC-VAE: their losses by hand, the minibatch-weighted estimator on a tiny
batch, and a smoke run on the shapes dataset that reports MIG, DCI and traversals."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.errors import UsageError
from jaxunsup.objectives import beta_vae, registry, vae
from jaxunsup.recipes import autoencoder


def _state_and_batch(name="beta_vae"):
  config = get_config("smoke")
  config.model.name = name
  state = registry.build("autoencoder", name, config, data.input_spec("mnist")).init(jax.random.key(0))
  x = vae.binarize(jax.random.uniform(jax.random.key(5), (16, 28, 28, 1)), jax.random.key(6))
  return state, x


def test_beta_vae_weights_the_vae_kl_by_beta():
  state, x = _state_and_batch()
  elbo, log_px, kl = vae.elbo(state, x, jax.random.key(1))
  loss_1, _ = beta_vae.beta_vae_loss(state, x, jax.random.key(1), 1.0)
  np.testing.assert_allclose(loss_1, -jnp.mean(elbo), rtol=1e-6)  # beta = 1: the VAE
  loss_3, aux = beta_vae.beta_vae_loss(state, x, jax.random.key(1), 3.0)
  np.testing.assert_allclose(loss_3, jnp.mean(3 * kl - log_px), rtol=1e-6)
  np.testing.assert_allclose(aux["kl"], jnp.mean(kl), rtol=1e-6)


def test_minibatch_weighted_sampling_by_hand():
  rng = np.random.default_rng(0)
  z, mean, logvar = (rng.normal(size=(3, 2)) for _ in range(3))
  n = 1000
  density = lambda v, m, lv: np.exp(-0.5 * ((v - m) ** 2 / np.exp(lv) + lv + math.log(2 * math.pi)))
  terms = beta_vae.tc_decomposition(jnp.asarray(z), jnp.asarray(mean), jnp.asarray(logvar), n)
  for i in range(3):
    # q(z_i) ~ 1/(N M) sum_j q(z_i|x_j); q(z_id) likewise per coordinate
    q_z = sum(np.prod(density(z[i], mean[j], logvar[j])) for j in range(3)) / (n * 3)
    q_zd = [sum(density(z[i, d], mean[j, d], logvar[j, d]) for j in range(3)) / (n * 3) for d in range(2)]
    q_zx = np.prod(density(z[i], mean[i], logvar[i]))
    p_z = np.prod(density(z[i], 0.0, 0.0))
    np.testing.assert_allclose(terms["mi"][i], np.log(q_zx / q_z), rtol=1e-5)
    np.testing.assert_allclose(terms["tc"][i], np.log(q_z / np.prod(q_zd)), rtol=1e-5)
    np.testing.assert_allclose(terms["dwkl"][i], np.log(np.prod(q_zd) / p_z), rtol=1e-5)


def test_beta_tcvae_of_beta_one_is_the_elbo_with_a_sampled_kl():
  state, x = _state_and_batch("beta_tcvae")
  key = jax.random.key(2)
  mean, logvar = vae.posterior(state, x)
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, mean.shape)
  log_px = vae.bernoulli_log_likelihood(vae.decode_logits(state, z), x)
  sampled_kl = jnp.sum(vae.normal_log_density(z, mean, logvar) - vae.normal_log_density(z, 0.0, 0.0), -1)
  loss_1, aux = beta_vae.beta_tcvae_loss(state, x, key, 1.0, 60_000)
  np.testing.assert_allclose(loss_1, jnp.mean(sampled_kl - log_px), rtol=1e-5)
  # a larger beta adds (beta - 1) times the total correlation, which is never far below zero
  loss_5, _ = beta_vae.beta_tcvae_loss(state, x, key, 5.0, 60_000)
  np.testing.assert_allclose(loss_5, loss_1 + 4 * aux["tc"], rtol=1e-5)


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan")])
def test_beta_must_be_positive(beta):
  config = get_config("smoke")
  config.model.update(name="beta_tcvae", beta=beta)
  with pytest.raises(UsageError, match="model.beta"):
    beta_vae.check(config)


def test_smoke_run_on_shapes_reports_disentanglement(tmp_path):
  data.prepare("shapes")
  config = get_config("shapes_beta_tcvae")
  smoke = get_config("smoke")
  config.model.hidden, config.train = smoke.model.hidden, smoke.train
  config.eval.update(examples=256, iw_samples=5, iw_chunk=5, iw_batch=500, num_samples=64)
  summary = autoencoder.train_and_evaluate(config, str(tmp_path))
  assert summary["model"] == "beta_tcvae" and summary["dataset"] == "shapes"
  assert len(summary["latent_kl"]) == 10 and 0 <= summary["active_latents"] <= 10
  assert 0 <= summary["mig"] <= 1 and len(summary["mig_per_factor"]) == 6
  for key in ("dci_disentanglement", "dci_completeness", "dci_informativeness"):
    assert 0 <= summary[key] <= 1
  assert os.path.getsize(tmp_path / "traversals.png") > 0
