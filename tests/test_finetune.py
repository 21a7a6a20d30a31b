import jax
import numpy as np
import pytest

from jaxunsup import data, finetune, models, trained
from jaxunsup.configs.pretrain_finetune import get_config
from jaxunsup.errors import UsageError
from jaxunsup.train import loop

SPEC = data.input_spec("mnist")


def _split(n, seed):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
          "label": np.tile(np.arange(10), n // 10).astype(np.int32)}


def _setup(evaluation):
  config = get_config("smoke")
  encoder = models.build_encoder(config.model, SPEC)
  pretrained = encoder.init(jax.random.key(7), np.zeros((1, 28, 28, 1), np.float32))["params"]
  return config, finetune.cell_parts(config, evaluation, 40, SPEC), pretrained


@pytest.mark.parametrize("evaluation", ["linear_probe", "finetune"])
def test_linear_probe_keeps_the_encoder_bit_identical_and_finetune_moves_it(tmp_path, evaluation):
  config, parts, pretrained = _setup(evaluation)
  before = jax.tree.map(np.array, pretrained)
  acc = finetune.train_cell(config, evaluation, str(tmp_path), SPEC, pretrained, _split(40, 0),
                            _split(50, 1), seed=0)
  assert 0.0 <= acc <= 1.0
  state = trained.restore(str(tmp_path), parts.init)
  encoder_after, head_after = state.params["encoder"], state.params["head"]
  same = jax.tree.leaves(jax.tree.map(np.array_equal, before, jax.tree.map(np.asarray, encoder_after)))
  assert all(same) if evaluation == "linear_probe" else not any(same)
  np.testing.assert_array_equal(jax.tree.leaves(before)[0], jax.tree.leaves(pretrained)[0])  # not donated
  init_key = jax.random.fold_in(jax.random.key(0), loop.INIT)  # the loop's init key for seed 0
  fresh = parts.init(init_key).params["head"]
  assert not np.array_equal(np.asarray(head_after["kernel"]), np.asarray(fresh["kernel"]))


def test_pretrained_params_of_another_shape_are_refused():
  config, parts, _ = _setup("finetune")
  other = models.build_encoder(config.model, SPEC).clone(out_dim=7)
  params = other.init(jax.random.key(0), np.zeros((1, 28, 28, 1), np.float32))["params"]
  with pytest.raises(UsageError, match="do not fit"):
    finetune.with_encoder(parts.init(jax.random.key(0)), params)


def test_cell_budget_is_at_least_steps_and_grows_with_the_labelled_set():
  ft = get_config("default").finetune
  assert (ft.steps, ft.epochs, ft.batch_size) == (500, 5, 128)
  assert finetune.cell_steps(ft, 100) == 500            # 10 per class: the floor
  assert finetune.cell_steps(ft, 60000) == 2344         # every MNIST label: 5 passes of 469 batches
  assert finetune.batch_size(ft, 100) == 100
