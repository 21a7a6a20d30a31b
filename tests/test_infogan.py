"""InfoGAN's pieces: the losses by hand, Q as a distribution over codes (a unit Gaussian over the
continuous ones), no label read, Q learning, continuous codes drawn and traversed."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data, trained
from jaxunsup.configs.gan import get_config
from jaxunsup.errors import UsageError
from jaxunsup.objectives import gan, infogan, registry


def test_losses_against_hand_computed_values():
  # logits 0 give log 2 per non-saturating term; the bound is the mean of column 1 of the fakes
  real = jnp.array([[0.0, 0.0], [0.0, 0.0]])
  fake = jnp.array([[0.0, np.log(0.5)], [0.0, np.log(0.25)]])
  bound = (np.log(0.5) + np.log(0.25)) / 2
  assert float(infogan.info_disc_loss(real, fake, 2.0)) == pytest.approx(2 * np.log(2) - 2.0 * bound, rel=1e-6)
  assert float(infogan.info_gen_loss(fake, 0.5)) == pytest.approx(np.log(2) - 0.5 * bound, rel=1e-6)


def _parts(continuous=0, **train):
  config = get_config("smoke")
  config.model.update(name="infogan", continuous_codes=continuous)
  config.train.update(**train)
  return config, registry.build("gan", "infogan", config, data.input_spec("mnist"))


def _batch(labels):
  images = np.random.default_rng(1).uniform(size=(32, 28, 28, 1)).astype(np.float32)
  return {"image": jnp.asarray(images), "label": jnp.asarray(labels, jnp.int32)}


def test_q_is_a_distribution_over_the_codes_and_reals_get_zeros():
  config, parts = _parts()
  state = parts.init(jax.random.key(0))
  x = _batch(np.zeros(32))["image"][:4] * 2 - 1
  apply = lambda codes: state.disc.apply_fn({"params": state.disc.params}, x, codes)
  log_q = np.stack([np.asarray(apply(jnp.full((4,), k)))[:, 1] for k in range(config.model.codes)], 1)
  np.testing.assert_allclose(np.exp(log_q).sum(1), 1.0, rtol=1e-5)
  without = np.asarray(apply(None))
  np.testing.assert_array_equal(without[:, 1], 0.0)
  np.testing.assert_array_equal(without[:, 0], np.asarray(apply(jnp.zeros((4,), jnp.int32)))[:, 0])


def test_continuous_codes_are_read_as_a_unit_gaussian_beside_the_category():
  config, parts = _parts(continuous=2)
  state = parts.init(jax.random.key(0))
  x = _batch(np.zeros(32))["image"][:1] * 2 - 1

  def log_q(category, codes):
    labels = jnp.asarray([[category, *codes]], jnp.float32)
    return float(state.disc.apply_fn({"params": state.disc.params}, x, labels)[0, 1])

  # -|c - mu|^2 / 2 has second difference -1 along each code with step 1, wherever Q's means are
  for e in ([1.0, 0.0], [0.0, 1.0]):
    second = log_q(3, e) + log_q(3, [-v for v in e]) - 2 * log_q(3, [0.0, 0.0])
    assert second == pytest.approx(-1.0, abs=1e-4)
  # the category's part does not depend on the codes: the same odds between categories
  assert log_q(1, [0.5, -0.2]) - log_q(7, [0.5, -0.2]) == pytest.approx(log_q(1, [0, 0]) - log_q(7, [0, 0]), abs=1e-5)
  # the generator reads the codes, and a draw puts the category first, then U(-1, 1) codes
  model = trained.GAN(config, state, data.input_spec("mnist"), registry.get("gan", "infogan"))
  images = model.code_traversal(1, np.array([-2.0, 2.0]))
  assert images.shape == (2 * config.model.codes, 28, 28, 1) and not np.allclose(images[0], images[1])
  _, labels = gan._draw(jax.random.key(0), 500, 8, 10, continuous=2)
  labels = np.asarray(labels)
  assert labels.shape == (500, 3) and set(labels[:, 0]) == set(range(10))
  assert np.abs(labels[:, 1:]).max() <= 1.0 and labels[:, 1:].std() > 0.5  # U(-1, 1): std 0.577
  with pytest.raises(UsageError, match="continuous code 2 does not exist"):
    model.code_traversal(2, np.zeros(3))


def test_the_step_never_reads_the_real_labels():
  _, parts = _parts()
  state = parts.init(jax.random.key(0))
  step = jax.jit(parts.train_step)
  a, _ = step(state, _batch(np.zeros(32)), jax.random.key(3))
  b, _ = step(state, _batch(np.arange(32) % 10), jax.random.key(3))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_q_learns_to_read_the_code():
  # the bound starts near log(1/10) and rises as generator and Q agree on what each code draws
  _, parts = _parts(info_weight=5.0, gen_lr=2e-3, disc_lr=2e-3)
  state = parts.init(jax.random.key(0))
  step = jax.jit(parts.train_step)
  log_q = []
  for i in range(40):
    state, metrics = step(state, _batch(np.zeros(32)), jax.random.key(i))
    log_q.append(float(metrics["log_q"]))
  assert log_q[0] == pytest.approx(np.log(0.1), abs=0.3)
  assert np.mean(log_q[-5:]) > np.log(0.1) + 1.0, log_q  # Q right well beyond chance


@pytest.mark.parametrize("field,value,message", [
    ("model.codes", 1, "model.codes must be a whole number >= 2"),
    ("model.continuous_codes", -1, "model.continuous_codes must be a whole number >= 0"),
    ("train.info_weight", 0.0, "train.info_weight must be positive"),
    ("train.r1_weight", 1.0, "does not apply to infogan"),
])
def test_bad_settings_are_refused(field, value, message):
  config = get_config("smoke")
  config.model.name = "infogan"
  block, key = field.split(".")
  config[block][key] = value
  with pytest.raises(UsageError, match=message):
    registry.get("gan", "infogan").check(config)
