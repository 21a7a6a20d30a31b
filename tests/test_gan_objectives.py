"""GAN losses, gradient penalty and train steps on synthetic data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.configs.gan import get_config
from jaxunsup.objectives import gan as gan_obj
from jaxunsup.objectives import registry


def test_non_saturating_losses_against_hand_computed_values():
  log2 = np.log(2.0)
  assert float(gan_obj.ns_disc_loss(jnp.zeros(4), jnp.zeros(4))) == pytest.approx(2 * log2)
  # softplus(-2) + softplus(-1) = log(1 + e^-2) + log(1 + e^-1)
  assert float(gan_obj.ns_disc_loss(jnp.array([2.0]), jnp.array([-1.0]))) == pytest.approx(0.4401897, rel=1e-6)
  assert float(gan_obj.ns_gen_loss(jnp.array([1.0, 1.0]))) == pytest.approx(0.3132617, rel=1e-6)


def test_wasserstein_losses():
  assert float(gan_obj.wgan_critic_loss(jnp.array([1.0, 3.0]), jnp.array([0.5]))) == pytest.approx(-1.5)
  assert float(gan_obj.wgan_gen_loss(jnp.array([1.0, 3.0]))) == pytest.approx(-2.0)


def test_gradient_penalty_is_zero_for_a_unit_norm_linear_critic():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(4, 4, 1))
  w /= np.linalg.norm(w)
  critic = lambda x: jnp.einsum("bhwc,hwc->b", x, w)
  real, fake = jnp.asarray(rng.normal(size=(5, 4, 4, 1))), jnp.asarray(rng.normal(size=(5, 4, 4, 1)))
  eps = jnp.asarray(rng.uniform(size=5))
  assert float(gan_obj.gradient_penalty(critic, real, fake, eps)) == pytest.approx(0.0, abs=1e-6)
  doubled = lambda x: 2 * critic(x)
  assert float(gan_obj.gradient_penalty(doubled, real, fake, eps)) == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_interpolates_with_one_coefficient_per_sample():
  # C(x) = |x|^2 / 2 has gradient x, so each sample's gradient norm is eps_i |real_i| (fake = 0).
  critic = lambda x: 0.5 * jnp.sum(jnp.square(x.reshape((x.shape[0], -1))), axis=-1)
  real = jnp.ones((3, 2, 2, 1)) * jnp.array([1.0, 2.0, 3.0])[:, None, None, None]
  eps = jnp.array([0.5, 0.25, 1.0])
  norms = np.array([0.5 * 2, 0.25 * 4, 1.0 * 6])
  expected = np.mean((norms - 1) ** 2)
  assert float(gan_obj.gradient_penalty(critic, real, jnp.zeros_like(real), eps)) == pytest.approx(expected, rel=1e-5)


def _setup(name, **train):
  config = get_config("smoke")
  config.model.name = name
  config.train.update(**train)
  parts = registry.build("gan", name, config, data.input_spec("mnist"))
  state, step, per_step = parts.init(jax.random.key(0)), parts.train_step, parts.examples_per_step
  rng = np.random.default_rng(1)
  batch = {"image": jnp.asarray(rng.uniform(size=(per_step, 28, 28, 1)), jnp.float32),
           "label": jnp.asarray(rng.integers(0, 10, per_step), jnp.int32)}
  return config, state, step, batch


def test_generator_is_updated_against_the_already_updated_discriminator():
  config, state, step, batch = _setup("dcgan")
  new_state, metrics = jax.jit(step)(state, batch, jax.random.key(7))
  # Redo the step's fake batch by hand: same key, the old generator in training mode.
  z, _ = gan_obj._draw(jax.random.fold_in(jax.random.key(7), 0), 32, config.model.latent_dim, 0)
  fake, _ = gan_obj.generate(state, {"params": state.gen.params, "batch_stats": state.gen.batch_stats}, z, None, True)
  scores = new_state.disc.apply_fn({"params": new_state.disc.params}, fake)
  assert float(metrics["g_loss"]) == pytest.approx(float(gan_obj.ns_gen_loss(scores)), rel=1e-5)
  assert int(new_state.gen.step) == int(new_state.disc.step) == 1


def test_wgan_gp_makes_n_critic_updates_per_generator_update():
  _, state, step, batch = _setup("wgan_gp", n_critic=3)
  assert batch["image"].shape[0] == 3 * 32
  new_state, metrics = jax.jit(step)(state, batch, jax.random.key(0))
  assert int(new_state.disc.step) == 3 and int(new_state.gen.step) == 1
  assert np.isfinite(float(metrics["gp"])) and np.isfinite(float(metrics["wasserstein"]))


def test_ema_follows_the_generator_with_its_decay():
  config, state, step, batch = _setup("mlp")
  new_state, _ = jax.jit(step)(state, batch, jax.random.key(0))
  d = config.model.ema_decay
  expected = jax.tree.map(lambda e, p: d * e + (1 - d) * p, state.ema["params"], new_state.gen.params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), new_state.ema["params"], expected)


@pytest.mark.parametrize("name", ["mlp", "dcgan", "wgan_gp", "cgan"])
def test_jit_and_no_jit_agree_and_metrics_are_finite(name):
  _, state, step, batch = _setup(name)
  a_state, a = jax.jit(step)(state, batch, jax.random.key(3))
  b_state, b = step(state, batch, jax.random.key(3))
  for k in a:
    assert np.isfinite(float(a[k])), k
    np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=2e-4, atol=1e-5)


def test_conditional_discriminator_uses_the_label():
  _, state, _, batch = _setup("cgan")
  x = batch["image"][:4] * 2 - 1
  d = lambda y: state.disc.apply_fn({"params": state.disc.params}, x, y)
  # the projection embedding starts random, so different labels give different scores
  assert not np.allclose(d(jnp.zeros(4, jnp.int32)), d(jnp.full(4, 7, jnp.int32)))
