"""VampPrior: the mixture prior by hand, its own optimizer state, and a smoke run."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import constant_vae
from jaxunsup import data
from jaxunsup.configs.autoencoder import get_config
from jaxunsup.errors import UsageError
from jaxunsup.objectives import registry, vae, vampprior
from jaxunsup.recipes import autoencoder


def _parts_and_state():
  config = get_config("smoke")
  config.model.name = "vampprior"
  parts = registry.build("autoencoder", "vampprior", config, data.input_spec("mnist"))
  return parts, parts.init(jax.random.key(0))


def test_the_prior_is_the_mixture_of_the_pseudo_inputs_posteriors():
  _, state = _parts_and_state()
  z = np.asarray(jax.random.normal(jax.random.key(1), (5, 8)))
  mean, logvar = (np.asarray(a, np.float64) for a in vae.posterior(state, vampprior.pseudo_inputs(state)))
  assert mean.shape == (16, 8)
  normal = lambda v, m, lv: np.exp(-0.5 * ((v - m) ** 2 / np.exp(lv) + lv + math.log(2 * math.pi))).prod(-1)
  expected = np.log(np.mean([normal(z, mean[k], logvar[k]) for k in range(16)], axis=0))
  np.testing.assert_allclose(vampprior.log_density(state, jnp.asarray(z)), expected, rtol=1e-5)


def test_a_posterior_that_ignores_its_input_makes_the_prior_standard_normal():
  vae_state = constant_vae(0.3)  # encoder params all zero: q(z|x) = N(0, I) for every x
  _, state = _parts_and_state()
  state = state.replace(encoder=vae_state.encoder)
  z = jax.random.normal(jax.random.key(2), (3, 4, 8))
  np.testing.assert_allclose(vampprior.log_density(state, z),
                             -0.5 * jnp.sum(jnp.square(z) + vae.LOG_2PI, -1), rtol=1e-6)


def test_a_step_trains_the_pseudo_inputs_with_their_own_optimizer_state():
  parts, state = _parts_and_state()
  batch = {"image": jax.random.uniform(jax.random.key(3), (64, 28, 28, 1))}
  new_state, metrics = jax.jit(parts.train_step)(state, batch, jax.random.key(4))
  assert int(new_state.prior.step) == int(new_state.encoder.step) == 1
  assert not np.allclose(new_state.prior.params["pseudo_inputs"], state.prior.params["pseudo_inputs"])
  assert np.isfinite(float(metrics["loss"])) and float(metrics["loss"]) > 0


def test_pseudo_inputs_must_be_a_positive_count():
  config = get_config("smoke")
  config.model.update(name="vampprior", pseudo_inputs=0)
  with pytest.raises(UsageError, match="model.pseudo_inputs"):
    vampprior.check(config)


def test_smoke_run_scores_and_samples_under_the_learnt_prior(tmp_path):
  config = get_config("smoke")
  config.model.name = "vampprior"
  summary = autoencoder.train_and_evaluate(config, str(tmp_path))
  assert summary["test_nll_iw"] > 0 and summary["test_nll_iw"] <= -summary["test_elbo"] + 1.0
  assert np.load(tmp_path / "samples.npy").shape == (64, 28, 28, 1)
  model = autoencoder.load(str(tmp_path))  # the three optimizer states restore
  assert model.state.prior.params["pseudo_inputs"].shape == (16, 28, 28, 1)
