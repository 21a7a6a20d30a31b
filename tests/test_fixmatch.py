"""FixMatch (Sohn et al. 2020): the masked consistency loss by hand, the step's use of its batch,
the schedule, and the label sweep's fixmatch evaluation from scratch."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxunsup import data, finetune
from jaxunsup.configs.pretrain_finetune import get_config
from jaxunsup.configs.runs import run_config
from jaxunsup.errors import UsageError
from jaxunsup.objectives import fixmatch, registry
from jaxunsup.recipes import pretrain_finetune
from jaxunsup.train.metrics_writer import read_metrics


def test_the_masked_consistency_loss_by_hand():
  weak = jnp.array([[5.0, 0.0, 0.0], [1.0, 0.5, 0.0], [0.0, 0.0, 4.0]])
  strong = jnp.array([[0.2, 0.1, 0.3], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
  loss, mask = fixmatch.masked_consistency(weak, strong, 0.95)
  # max softmax: 0.9867, 0.5065, 0.9643: the second row is below 0.95
  np.testing.assert_array_equal(mask, [1.0, 0.0, 1.0])
  s = np.asarray(strong, np.float64)
  ce = np.log(np.exp(s).sum(-1)) - s[np.arange(3), [0, 0, 2]]
  np.testing.assert_allclose(loss, (ce[0] + ce[2]) / 3, rtol=1e-6)  # the mean counts every row
  # at a threshold of 0.97 only the first row counts
  np.testing.assert_allclose(fixmatch.masked_consistency(weak, strong, 0.97)[0], ce[0] / 3, rtol=1e-6)
  # the pseudo-labels are targets: no gradient reaches the weak logits
  grad = jax.grad(lambda w: fixmatch.masked_consistency(w, strong, 0.5)[0])(weak)
  np.testing.assert_array_equal(grad, 0.0)


def test_cell_data_tiles_the_labelled_set_beside_every_unlabelled_image():
  labelled = np.arange(3)[:, None] * np.ones((3, 2))
  out = fixmatch.cell_data(labelled, np.array([7, 8, 9]), np.zeros((8, 2)), np.arange(8))
  np.testing.assert_array_equal(out["label"], [7, 8, 9, 7, 8, 9, 7, 8])
  np.testing.assert_array_equal(out["limage"][:, 0], [0, 1, 2, 0, 1, 2, 0, 1])
  assert out["image"].shape == (8, 2) and list(out["unlabelled_label"]) == list(range(8))


def test_the_learning_rate_decays_as_the_paper_sets():
  schedule = fixmatch.cosine_schedule(0.03, 1000)
  np.testing.assert_allclose(schedule(0), 0.03)
  np.testing.assert_allclose(schedule(1000), 0.03 * math.cos(7 * math.pi / 16), rtol=1e-6)


def _parts(**block):
  config = run_config("classifier", "fixmatch", "smoke")
  config.fixmatch.update(block)
  return registry.build("classifier", "fixmatch", config, data.input_spec("mnist")), config


def _batch(parts, config, seed=0):
  rng = np.random.default_rng(seed)
  n, b = parts.examples_per_step, config.fixmatch.batch_size
  images = rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
  labelled = rng.integers(0, 256, (b, 28, 28, 1), dtype=np.uint8)
  cell = fixmatch.cell_data(labelled, rng.integers(0, 10, b), images, rng.integers(0, 10, n))
  return data.model_inputs(cell)


def test_the_step_reads_b_labelled_rows_and_never_the_unlabelled_labels():
  parts, config = _parts()
  assert parts.examples_per_step == config.fixmatch.mu * config.fixmatch.batch_size == 8
  state = parts.init(jax.random.key(0))
  batch = _batch(parts, config)
  step = jax.jit(parts.train_step)
  new, metrics = step(state, batch, jax.random.key(1))
  assert all(np.isfinite(float(v)) for v in metrics.values())
  other = {k: np.array(v) for k, v in batch.items()}
  other["unlabelled_label"] = (other["unlabelled_label"] + 1) % 10
  other["limage"][4:], other["label"][4:] = 0, 0
  again, _ = step(state, other, jax.random.key(1))
  jax.tree.map(np.testing.assert_array_equal, new.params, again.params)


def test_below_the_threshold_the_step_is_a_supervised_one():
  # A fresh network is never 100 % sure: with threshold 1 no pseudo-label counts, and the gradient
  # is the labelled cross-entropy's alone.
  parts, config = _parts(threshold=1.0)
  state = parts.init(jax.random.key(0))
  batch = _batch(parts, config)
  _, metrics = jax.jit(parts.train_step)(state, batch, jax.random.key(1))
  assert float(metrics["mask_rate"]) == 0.0 and float(metrics["unlabelled_loss"]) == 0.0
  np.testing.assert_allclose(metrics["loss"], metrics["labelled_loss"], rtol=0)
  # and with threshold 0 every image counts
  parts, config = _parts(threshold=1e-6)
  _, metrics = jax.jit(parts.train_step)(parts.init(jax.random.key(0)), batch, jax.random.key(1))
  assert float(metrics["mask_rate"]) == 1.0 and float(metrics["unlabelled_loss"]) > 0


def _sweep_config(**block):
  config = get_config("smoke")
  config.pretrain.objectives = ("none",)
  config.finetune.evaluations = ("fixmatch",)
  config.fixmatch.update(block)
  return config


def test_fixmatch_cells_run_from_scratch_and_read_back(tmp_path, monkeypatch):
  summary = pretrain_finetune.train_and_evaluate(_sweep_config(), str(tmp_path / "sweep"))
  (cell,) = summary["cells"]
  assert (cell["objective"], cell["evaluation"], cell["seeds"]) == ("none", "fixmatch", 2)
  assert all(0 <= a <= 1 for a in cell["accuracies"])
  cell_dir = tmp_path / "sweep" / "finetune" / "none_fixmatch_3pc_seed0"
  rows = [r for r in read_metrics(str(cell_dir)) if "eval/test_accuracy" in r]
  assert [r["step"] for r in rows] == [3, 6]  # fixmatch.eval_every, not once at the end
  assert os.path.getsize(tmp_path / "sweep" / "fixmatch_curves.png") > 0
  monkeypatch.setattr(finetune, "train_cell", lambda *a, **k: pytest.fail("trained twice"))
  again = pretrain_finetune.train_and_evaluate(_sweep_config(), str(tmp_path / "sweep"))
  assert again["cells"][0]["accuracies"] == cell["accuracies"]


@pytest.mark.parametrize("block,message", [
    ({"threshold": 1.5}, "fixmatch.threshold must be in"),
    ({"momentum": 1.0}, "fixmatch.momentum must be in"),
    ({"strong": {"contrast": 1.5}}, "fixmatch.strong.contrast must be in"),
])
def test_bad_fixmatch_blocks_are_refused_before_anything_is_written(tmp_path, block, message):
  config = _sweep_config()
  for name, value in block.items():
    if isinstance(value, dict):
      config.fixmatch[name].update(value)
    else:
      config.fixmatch[name] = value
  with pytest.raises(UsageError, match=message):
    pretrain_finetune.train_and_evaluate(config, str(tmp_path / "sweep"))
  assert not os.path.exists(tmp_path / "sweep")
