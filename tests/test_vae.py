import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import constant_vae
from jaxunsup import data
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.objectives import registry, vae


def test_gaussian_kl_by_hand():
  assert float(vae.gaussian_kl(jnp.zeros((1, 3)), jnp.zeros((1, 3)))[0]) == 0.0
  # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension; KL(N(0, e) || N(0, 1)) = (e - 1 - 1) / 2.
  assert float(vae.gaussian_kl(jnp.ones((1, 2)), jnp.zeros((1, 2)))[0]) == pytest.approx(1.0)
  assert float(vae.gaussian_kl(jnp.zeros((1, 1)), jnp.ones((1, 1)))[0]) == pytest.approx((math.e - 2) / 2)


def test_bernoulli_log_likelihood_by_hand():
  logits = jnp.array([0.0, 2.0]).reshape((1, 2, 1, 1))
  x = jnp.array([1.0, 0.0]).reshape((1, 2, 1, 1))
  expected = math.log(0.5) + math.log(1 - 1 / (1 + math.exp(-2.0)))
  assert float(vae.bernoulli_log_likelihood(logits, x)[0]) == pytest.approx(expected, rel=1e-6)


def test_elbo_and_iw_bound_are_exact_for_a_constant_decoder():
  state = constant_vae(0.7)
  x = vae.binarize(jnp.full((4, 28, 28, 1), 0.4), jax.random.key(3))
  p = 1 / (1 + math.exp(-0.7))
  ones = np.asarray(x).reshape((4, -1)).sum(1)
  log_px = ones * math.log(p) + (784 - ones) * math.log(1 - p)
  value, _, kl = vae.elbo(state, x, jax.random.key(1))
  np.testing.assert_allclose(np.asarray(kl), 0.0, atol=1e-6)
  np.testing.assert_allclose(np.asarray(value), log_px, rtol=1e-5)
  iw = vae.iw_log_likelihood(state, x, jax.random.key(2), num_samples=40, chunk=10)
  np.testing.assert_allclose(np.asarray(iw), log_px, rtol=1e-5)


def test_iw_bound_tightens_with_more_samples():
  config = get_config("smoke")
  config.model.name = "vae"
  state = registry.build("autoencoder", "vae", config, data.input_spec("mnist")).init(jax.random.key(0))
  x = vae.binarize(jax.random.uniform(jax.random.key(5), (8, 28, 28, 1)), jax.random.key(6))
  elbo = float(jnp.mean(vae.elbo(state, x, jax.random.key(7))[0]))
  iw = float(jnp.mean(vae.iw_log_likelihood(state, x, jax.random.key(8), num_samples=200, chunk=50)))
  assert iw > elbo


def test_binarize_is_bernoulli_of_the_intensity():
  x = jnp.full((200, 28, 28, 1), 0.25)
  b = vae.binarize(x, jax.random.key(0))
  assert set(np.unique(np.asarray(b))) == {0.0, 1.0}
  assert float(b.mean()) == pytest.approx(0.25, abs=0.01)
