"""VQ-VAE: nearest codewords, perplexity by hand, straight-through gradients, the recipe and load."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxunsup
from jaxunsup import data
from conftest import metrics_after_steps
from jaxunsup.configs.runs import run_config
from jaxunsup.errors import UsageError
from jaxunsup.models.vq import VectorQuantizer
from jaxunsup.objectives import registry, vqvae
from jaxunsup.recipes import autoencoder


def test_each_code_takes_its_nearest_codeword():
  quantizer = VectorQuantizer(codebook_size=3, code_dim=2)
  codebook = jnp.array([[0.0, 0.0], [1.0, 1.0], [-2.0, 0.0]])
  z = jnp.array([[0.9, 1.2, -1.5, 0.1], [0.1, -0.1, 5.0, 5.0]])  # two codes of two dims each
  e, codes = quantizer.apply({"params": {"codebook": codebook}}, z)
  np.testing.assert_array_equal(codes, [[1, 2], [0, 1]])
  np.testing.assert_array_equal(e, [[1.0, 1.0, -2.0, 0.0], [0.0, 0.0, 1.0, 1.0]])


def test_perplexity_counts_the_codewords_in_use():
  assert float(vqvae.perplexity(jnp.array([[0, 0], [1, 1]]), 8)) == pytest.approx(2.0)
  assert float(vqvae.perplexity(jnp.array([[3, 3, 3]]), 8)) == pytest.approx(1.0)
  assert float(vqvae.perplexity(jnp.arange(8)[None], 8)) == pytest.approx(8.0)


def _setup():
  config = run_config("autoencoder", "vqvae", "smoke")
  parts = registry.build("autoencoder", "vqvae", config, data.input_spec("mnist"))
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (config.train.batch_size, 28, 28, 1), dtype=np.uint8)
  return config, parts, data.model_inputs({"image": images})


def test_one_step_moves_encoder_decoder_and_the_chosen_codewords_only():
  _, parts, batch = _setup()
  state = parts.init(jax.random.key(0))
  new, metrics = jax.jit(parts.train_step)(state, batch, jax.random.key(1))
  assert float(metrics["codebook"]) == pytest.approx(float(metrics["commitment"]))  # same distance
  # the decoder's gradient reaches the encoder straight through the argmin
  assert not np.array_equal(jax.tree.leaves(new.encoder.params)[0], jax.tree.leaves(state.encoder.params)[0])
  params = {"encoder": state.encoder.params, "decoder": state.decoder.params, "quantizer": state.quantizer.params}
  used = np.unique(np.asarray(vqvae._forward(state, params, batch["image"])[3]))  # pylint: disable=protected-access
  moved = np.any(np.asarray(new.quantizer.params["codebook"]) != np.asarray(state.quantizer.params["codebook"]), -1)
  np.testing.assert_array_equal(np.flatnonzero(moved), used)


PINNED = (67.302071, 0.085166439)  # loss and pixel MSE after three steps of the smoke config


def test_pinned_metrics_after_three_steps():
  # A change of these numbers means the numerics changed: check it was meant, then update the pins.
  _, parts, batch = _setup()
  metrics = metrics_after_steps(parts, batch)
  np.testing.assert_allclose([metrics["loss"], metrics["mse"]], PINNED, rtol=1e-3)


def test_a_latent_that_does_not_split_into_codes_is_refused():
  config = run_config("autoencoder", "vqvae", "smoke")
  config.model.code_dim = 3  # latent_dim 8
  with pytest.raises(UsageError, match="divisible"):
    registry.build("autoencoder", "vqvae", config, data.input_spec("mnist"))


def test_trains_in_the_autoencoder_recipe_and_opens_with_load(tmp_path):
  config = run_config("autoencoder", "vqvae", "smoke")
  summary = autoencoder.train_and_evaluate(config, str(tmp_path))
  assert summary["model"] == "vqvae" and 1 <= summary["codewords_used"] <= config.model.codebook_size
  assert (tmp_path / "reconstructions.png").stat().st_size > 0
  model = jaxunsup.load(str(tmp_path))
  x = data.load("mnist", "test")["image"][:5]
  assert model.reconstruct(x).shape == (5, 28, 28, 1)
  codes = model.encode(x)
  assert codes.shape == (5, config.model.latent_dim)
  with open(tmp_path / "summary.json") as f:
    assert json.load(f)["test_mse"] == pytest.approx(summary["test_mse"])
  with pytest.raises(UsageError, match="no prior to sample from"):
    model.sample(4)
