"""SNGAN's pieces by hand: the hinge loss, spectral norm against an SVD, DiffAugment, R1."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data, diffaugment
from jaxunsup.configs.gan import get_config
from jaxunsup.errors import UsageError
from jaxunsup.models.gan import DCDiscriminator
from jaxunsup.objectives import gan as gan_obj
from jaxunsup.objectives import registry, sngan
from jaxunsup.train.state import StatsState

POLICY = "color,translation,cutout"


def test_hinge_losses_against_hand_computed_values():
  # real: relu(1 - 2) = 0, relu(1 - 0.5) = 0.5; fake: relu(1 - 2) = 0, relu(1 + 0) = 1
  assert float(sngan.hinge_disc_loss(jnp.array([2.0, 0.5]), jnp.array([-2.0, 0.0]))) == pytest.approx(0.25 + 0.5)
  assert float(sngan.hinge_gen_loss(jnp.array([1.0, -3.0]))) == pytest.approx(1.0)


def test_r1_of_a_linear_critic_is_half_its_squared_weight_norm():
  rng = np.random.default_rng(0)
  w = rng.normal(size=(4, 4, 1))
  critic = lambda x: jnp.einsum("bhwc,hwc->b", x, w)
  real = jnp.asarray(rng.normal(size=(3, 4, 4, 1)))
  assert float(gan_obj.r1_penalty(critic, real)) == pytest.approx(0.5 * np.sum(w ** 2), rel=1e-5)


def _disc_state():
  disc = DCDiscriminator((8, 16), spectral_norm=True)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 28, 28, 1)), jnp.float32)
  variables = disc.init(jax.random.key(0), x)
  state = StatsState.create(apply_fn=disc.apply, params=variables["params"], batch_stats=variables["batch_stats"],
                            tx=gan_obj.optax.identity())
  return state, x


def test_power_iterations_reach_the_largest_singular_value():
  state, x = _disc_state()
  state = jax.jit(lambda s: jax.lax.fori_loop(0, 200, lambda _, s: gan_obj.power_iteration(s, x, None, 0), s))(state)
  for layer, stats in [("Conv_0", state.batch_stats["SpectralNorm_0"]),
                       ("Conv_1", state.batch_stats["SpectralNorm_1"])]:
    kernel = np.asarray(state.params[layer]["kernel"])
    largest = np.linalg.svd(kernel.reshape((-1, kernel.shape[-1])), compute_uv=False)[0]
    assert float(stats[f"{layer}/kernel/sigma"]) == pytest.approx(largest, rel=1e-4)


def test_a_normalised_layer_has_unit_spectral_norm():
  # scaling a kernel by 10 leaves the discriminator's output unchanged: W / sigma(W) is scale free
  state, x = _disc_state()
  for _ in range(50):
    state = gan_obj.power_iteration(state, x, None, 0)
  out = state.apply_fn({"params": state.params, "batch_stats": state.batch_stats}, x)
  scaled = jax.tree.map(lambda p: p, state.params)
  scaled["Conv_0"] = {**scaled["Conv_0"], "kernel": 10.0 * scaled["Conv_0"]["kernel"],
                      "bias": scaled["Conv_0"]["bias"]}
  out_scaled = state.apply_fn({"params": scaled, "batch_stats": state.batch_stats}, x)
  np.testing.assert_allclose(out, out_scaled, rtol=1e-4, atol=1e-5)


def test_the_train_step_stores_the_iterated_vectors():
  config = get_config("smoke")
  config.model.update(name="sngan", spectral_norm=True)
  config.train.diff_augment = POLICY
  parts = registry.build("gan", "sngan", config, data.input_spec("mnist"))
  state = parts.init(jax.random.key(0))
  rng = np.random.default_rng(1)
  batch = {"image": jnp.asarray(rng.uniform(size=(32, 28, 28, 1)), jnp.float32),
           "label": jnp.zeros(32, jnp.int32)}
  new_state, metrics = jax.jit(parts.train_step)(state, batch, jax.random.key(0))
  paths = [("SpectralNorm_0", "Conv_0"), ("SpectralNorm_1", "Conv_1")]
  for stats in (state.disc.batch_stats, new_state.disc.batch_stats):
    assert len(jax.tree.leaves(stats)) == 6  # a u and a sigma per layer
  for wrapper, layer in paths:
    u_before = state.disc.batch_stats[wrapper][f"{layer}/kernel/u"]
    u_after = new_state.disc.batch_stats[wrapper][f"{layer}/kernel/u"]
    # drawn from a normal at init; stored as the unit vector the iteration reached
    assert not np.allclose(u_before, u_after) and np.linalg.norm(u_after) == pytest.approx(1.0, rel=1e-5)
  assert all(np.isfinite(float(v)) for v in metrics.values())


def _images(n=8, seed=0):
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, size=(n, 28, 28, 1)), jnp.float32)


def test_diffaugment_is_a_function_of_the_key():
  x, transforms = _images(), diffaugment.parse(POLICY)
  a = diffaugment.augment(x, jax.random.key(1), transforms)
  np.testing.assert_array_equal(a, diffaugment.augment(x, jax.random.key(1), transforms))
  assert not np.allclose(a, diffaugment.augment(x, jax.random.key(2), transforms))
  # each image draws its own parameters: two copies of one image come out differently
  twins = jnp.concatenate([x[:1], x[:1]])
  out = diffaugment.augment(twins, jax.random.key(1), transforms)
  assert not np.allclose(out[0], out[1])


def test_translation_moves_whole_images_by_at_most_an_eighth():
  x = jnp.zeros((16, 28, 28, 1)).at[:, 14, 14, 0].set(1.0)
  out = np.asarray(diffaugment.translation(x, jax.random.key(0)))
  for img in out:
    assert img.sum() == 1.0
    y, x_ = np.argwhere(img[..., 0] == 1.0)[0]
    assert abs(y - 14) <= 4 and abs(x_ - 14) <= 4
  assert len({tuple(np.argwhere(img[..., 0] == 1.0)[0]) for img in out}) > 1


def test_cutout_zeroes_one_square_of_half_the_side():
  out = np.asarray(diffaugment.cutout(jnp.ones((16, 28, 28, 1)), jax.random.key(0)))
  for img in out[..., 0]:
    rows, cols = np.nonzero(img == 0)
    assert 0 < len(rows) <= 14 * 14
    assert len(rows) == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # one box


def test_diffaugment_passes_gradients_to_the_images():
  transforms = diffaugment.parse(POLICY)
  grads = jax.grad(lambda x: jnp.sum(diffaugment.augment(x, jax.random.key(0), transforms) ** 2))(_images())
  assert np.all(np.isfinite(grads)) and np.any(grads != 0)


def test_policies_parse_and_unknown_names_are_refused():
  assert diffaugment.parse("") == ()
  assert len(diffaugment.parse(POLICY)) == 5
  with pytest.raises(UsageError, match="unknown DiffAugment policy 'blur'"):
    diffaugment.parse("color,blur")
