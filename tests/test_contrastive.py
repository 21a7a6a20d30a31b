import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data, pretrain
from jaxunsup.configs.pretrain_finetune import get_config
from jaxunsup.objectives import contrastive


def test_nt_xent_by_hand():
  # Two images, 2-d projections. Views: a1, b1 (first views), a2, b2 (second views).
  z1 = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  z2 = jnp.array([[3.0, 2.9], [-1.0, 0.0]])
  t = 0.5
  units = [np.array(v) / np.linalg.norm(v) for v in ([1, 0], [0, 2], [3, 2.9], [-1, 0])]
  positive = {0: 2, 1: 3, 2: 0, 3: 1}
  losses = []
  for i in range(4):
    sims = {j: float(units[i] @ units[j]) / t for j in range(4) if j != i}
    losses.append(-sims[positive[i]] + math.log(sum(math.exp(s) for s in sims.values())))
  loss, accuracy = contrastive.nt_xent(z1, z2, t)
  assert float(loss) == pytest.approx(sum(losses) / 4, rel=1e-6)
  # a1 finds a2 (cos 0.72 beats 0 and -1); b1 finds a2 (0.70) instead of b2 (0), the one miss;
  # a2 finds a1 (0.72 beats b1's 0.70); b2 finds b1 (0 beats -1 and -0.72)
  assert float(accuracy) == pytest.approx(3 / 4)


def test_nt_xent_is_low_for_matching_views_and_ignores_scale():
  z = jax.random.normal(jax.random.key(0), (16, 32))
  low, acc = contrastive.nt_xent(z, 3.0 * z, 0.1)
  high, _ = contrastive.nt_xent(z, jax.random.normal(jax.random.key(1), (16, 32)), 0.1)
  assert float(acc) == 1.0 and float(low) < float(high)


def test_simclr_runs_of_one_config_share_their_compiled_objects():
  # jit keys on the step function and on the state's modules and optimizer: equal configs must
  # give the same objects, or every one-class model would compile its step again.
  phase = pretrain.phase_config(get_config("smoke"), "simclr")
  x = np.zeros((4, 28, 28, 1), np.float32)
  tasks = [pretrain.make_task(phase, data.input_spec("mnist"), x) for _ in range(2)]
  assert tasks[0].train_step is tasks[1].train_step
  states = [t.init(jax.random.key(i)) for i, t in enumerate(tasks)]
  assert jax.tree_util.tree_structure(states[0]) == jax.tree_util.tree_structure(states[1])
