"""IWAE: the k-sample bound by hand, its order in k, and a pinned step."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from conftest import constant_vae, metrics_after_steps
from jaxunsup import data
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.objectives import iwae, registry, vae


def test_bound_is_log_px_for_a_constant_decoder_whatever_k():
  # posterior = prior and a decoder that ignores z: every importance weight is p(x)
  state = constant_vae(0.7, "iwae")
  x = vae.binarize(jnp.full((4, 28, 28, 1), 0.4), jax.random.key(3))
  p = 1 / (1 + math.exp(-0.7))
  ones = np.asarray(x).reshape((4, -1)).sum(1)
  log_px = ones * math.log(p) + (784 - ones) * math.log(1 - p)
  for k in (1, 7):
    np.testing.assert_allclose(np.asarray(iwae.iwae_bound(state, x, jax.random.key(k), k)), log_px, rtol=1e-5)


def _state_and_batch():
  config = get_config("smoke")
  config.model.name = "iwae"
  parts = registry.build("autoencoder", "iwae", config, data.input_spec("mnist"))
  x = vae.binarize(jax.random.uniform(jax.random.key(5), (64, 28, 28, 1)), jax.random.key(6))
  return parts, parts.init(jax.random.key(0)), x


def test_k_of_one_is_the_sampled_elbo_and_more_samples_tighten_the_bound():
  _, state, x = _state_and_batch()
  # k = 1 with the VAE's noise: log p(x|z) - (log q(z|x) - log p(z)), the ELBO with a sampled KL
  mean, logvar = vae.posterior(state, x)
  eps = jax.random.normal(jax.random.key(9), (1, *mean.shape))
  z = mean + jnp.exp(0.5 * logvar) * eps[0]
  sampled_kl = jnp.sum(-0.5 * (jnp.square(eps[0]) + logvar) + 0.5 * jnp.square(z), axis=-1)
  elbo_1 = vae.bernoulli_log_likelihood(vae.decode_logits(state, z), x) - sampled_kl
  np.testing.assert_allclose(np.asarray(iwae.iwae_bound(state, x, jax.random.key(9), 1)), elbo_1, rtol=1e-5)
  bounds = [float(jnp.mean(iwae.iwae_bound(state, x, jax.random.key(11), k))) for k in (1, 10, 100)]
  assert bounds[0] < bounds[1] < bounds[2]  # Burda et al. 2016, Theorem 1 (in expectation)


PINNED = (549.94684, 20.866064)  # loss and gradient norm after three steps of the smoke config (k = 5)


def test_pinned_metrics_after_three_steps():
  parts, _, x = _state_and_batch()
  metrics = metrics_after_steps(parts, {"image": x})
  np.testing.assert_allclose([metrics["loss"], metrics["grad_norm"]], PINNED, rtol=1e-4)
