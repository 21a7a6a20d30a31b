"""The objective registry: every record builds, steps and shares its compiled parts."""

import jax
import numpy as np
import pytest

from jaxunsup import data
from jaxunsup.configs.runs import run_config
from jaxunsup.data import specs
from jaxunsup.errors import UsageError
from jaxunsup.objectives import registry
from jaxunsup.text.tokenizer import Tokenizer

FAMILIES = ("autoencoder", "gan", "pretrain", "text_pretrain", "classifier")
TOKENIZER = Tokenizer.build(["a car that drives itself", "the car was late", "a late flight"], 20, 8)


def _config_and_spec(family, name):
  if family == "text_pretrain":
    c = run_config(family, name, "smoke", tokenizer=TOKENIZER)
    return c, data.text_input_spec(c.data.name, TOKENIZER.max_len, TOKENIZER.vocab_size)
  return run_config(family, name, "smoke"), data.input_spec("mnist")


def _batch(spec, n):
  rng = np.random.default_rng(0)
  if spec.key == "ids":
    inputs = rng.integers(0, spec.vocab_size, (n, *spec.shape)).astype(np.int32)
  else:
    inputs = rng.integers(0, 256, (n, *spec.shape), dtype=np.uint8)
  batch = {spec.key: inputs, "label": rng.integers(0, 10, n)}
  if spec.key == "image":  # FixMatch's labelled rows and the unlabelled rows' true labels
    batch.update(limage=inputs[::-1], unlabelled_label=batch["label"][::-1])
  return data.model_inputs(batch)


ALL = [(f, n) for f in FAMILIES for n in registry.names(f)]


def test_every_family_registers_its_objectives():
  # the families' first objectives in order; objectives added later come after them
  assert registry.names("autoencoder")[:4] == ("mlp", "conv", "denoising", "vae")
  assert registry.names("gan")[:4] == ("mlp", "dcgan", "wgan_gp", "cgan")
  assert {"autoencoder", "denoising", "simclr"} <= set(registry.names("pretrain"))
  assert registry.names("text_pretrain") == ("seq_autoencoder", "language_model")
  assert registry.names("classifier") == ("linear_probe", "finetune", "fixmatch")


@pytest.mark.parametrize("family,name", ALL)
def test_each_objective_builds_and_traces_from_its_family_config(family, name):
  # Traced, not compiled: each objective's own tests run its step (tests/test_<objective>.py).
  config, spec = _config_and_spec(family, name)
  parts = registry.build(family, name, config, spec)
  state = jax.eval_shape(parts.init, jax.random.key(0))
  batch = _batch(spec, parts.examples_per_step)
  new_state, metrics = jax.eval_shape(parts.train_step, state, batch, jax.random.key(1))
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert "loss" in metrics or "d_loss" in metrics
  assert all(m.shape == () for m in metrics.values())
  if parts.encode is not None:
    features = jax.eval_shape(parts.encode, new_state, _batch(spec, 3)[spec.key])
    assert features.shape[0] == 3 and len(features.shape) == 2
  if parts.encoder_params is not None:
    assert jax.tree.leaves(parts.encoder_params(state))


def test_equal_configs_share_their_parts_and_others_do_not():
  # jit keys its caches on the step function and the state's modules and optimizer: runs that
  # differ only in seed or logging must get the same objects, or each would compile again.
  spec = data.input_spec("mnist")
  a = run_config("autoencoder", "conv", "smoke")
  b = run_config("autoencoder", "conv", "smoke")
  b.seed, b.train.log_every, b.data.source_dir = 7, 1, "/elsewhere"
  assert registry.build("autoencoder", "conv", a, spec) is registry.build("autoencoder", "conv", b, spec)
  b.train.learning_rate = 0.5
  assert registry.build("autoencoder", "conv", a, spec) is not registry.build("autoencoder", "conv", b, spec)


def test_an_unknown_objective_names_the_choices():
  with pytest.raises(UsageError, match="unknown gan objective 'stylegan'; choose one of mlp, dcgan"):
    registry.get("gan", "stylegan")


def test_bfloat16_parts_keep_their_wrappers_between_runs():
  config = run_config("autoencoder", "mlp", "smoke")
  config.dtype = "bfloat16"
  parts = registry.build("autoencoder", "mlp", config, data.input_spec("mnist"))
  one, two = parts.init(jax.random.key(0)), parts.init(jax.random.key(1))
  assert one.encoder.apply_fn is two.encoder.apply_fn
  assert jax.tree.leaves(one.encoder.params)[0].dtype == np.float32
