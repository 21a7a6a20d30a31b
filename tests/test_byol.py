"""BYOL: its loss and target schedule by hand, the target's moving average, and a pinned step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data
from conftest import metrics_after_steps
from jaxunsup.configs.runs import run_config
from jaxunsup.objectives import byol, registry


def test_regression_loss_is_two_minus_twice_the_cosine():
  p = jnp.array([[1.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
  z = jnp.array([[0.0, 2.0], [-1.0, 0.0], [0.5, 0.0]])
  np.testing.assert_allclose(byol.regression_loss(p, z), [2.0, 4.0, 0.0], atol=1e-6)


def test_target_decay_rises_from_tau_to_one_on_a_cosine():
  assert float(byol.target_decay(0.99, jnp.asarray(0), 100)) == pytest.approx(0.99)
  assert float(byol.target_decay(0.99, jnp.asarray(50), 100)) == pytest.approx(0.995)
  assert float(byol.target_decay(0.99, jnp.asarray(100), 100)) == pytest.approx(1.0)


def _setup():
  config = run_config("pretrain", "byol", "smoke")
  parts = registry.build("pretrain", "byol", config, data.input_spec("mnist"))
  rng = np.random.default_rng(0)
  batch = data.model_inputs({"image": rng.integers(0, 256, (config.train.batch_size, 28, 28, 1), dtype=np.uint8)})
  return config, parts, batch


def test_the_target_is_the_moving_average_of_the_online_networks():
  config, parts, batch = _setup()
  state = parts.init(jax.random.key(0))
  jax.tree.map(np.testing.assert_array_equal, state.target["encoder"], state.encoder.params)
  new, metrics = jax.jit(parts.train_step)(state, batch, jax.random.key(1))
  tau = config.byol.tau  # the decay at step 0
  expected = jax.tree.map(lambda t, o: tau * t + (1 - tau) * o, state.target["encoder"], new.encoder.params)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), new.target["encoder"], expected)
  assert float(metrics["target_decay"]) == pytest.approx(tau)
  # the online networks moved, each with its own optimizer state; the target took no gradient step
  assert int(new.encoder.step) == int(new.projector.step) == int(new.predictor.step) == 1
  assert not np.array_equal(jax.tree.leaves(new.predictor.params)[0], jax.tree.leaves(state.predictor.params)[0])


PINNED = (3.0538983, 0.19791749)  # spread near 1/sqrt(16): the projections have not collapsed


def test_pinned_metrics_after_three_steps():
  # A change of these numbers means the numerics changed: check it was meant, then update the pins.
  _, parts, batch = _setup()
  metrics = metrics_after_steps(parts, batch)
  np.testing.assert_allclose([metrics["loss"], metrics["spread"]], PINNED, rtol=1e-3)

