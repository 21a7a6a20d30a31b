"""The autoencoder family (mlp, conv, denoising, vae): training, evaluation and a model API.

`train_and_evaluate(config, workdir)` is what experiments/autoencoder.py runs; `load(workdir)`
gives notebooks an `Autoencoder` with `encode`, `reconstruct` and (for the VAE) `sample`.
"""

import dataclasses
import functools
import json
import os
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxunsup import data as data_lib
from jaxunsup import models, viz
from jaxunsup.chunked import map_in_chunks
from jaxunsup.errors import UsageError
from jaxunsup.eval import pca as pca_lib
from jaxunsup.objectives import reconstruction, vae
from jaxunsup.train import checkpoint, loop
from jaxunsup.train import state as state_lib
from jaxunsup.train.metrics_writer import read_metrics
from jaxunsup.train.workdir import write_json

SUMMARY_FILE = "summary.json"


@functools.lru_cache(maxsize=16)
def _modules_and_optimizer(model_json: str, train_json: str, image_shape: tuple) -> tuple:
  # One set of objects per config in a process: jit keys its caches on a state's apply_fn and tx,
  # so runs of the same config (one-class models, tests, notebooks) share their compiled steps.
  encoder, decoder = models.build_autoencoder(ml_collections.ConfigDict(json.loads(model_json)), image_shape)
  return encoder, decoder, state_lib.make_optimizer(ml_collections.ConfigDict(json.loads(train_json)))


def init_state(config: ml_collections.ConfigDict, image_shape, rng: jax.Array) -> state_lib.AEState:
  """Fresh encoder and decoder params, each with its own optimizer state."""
  encoder, decoder, tx = _modules_and_optimizer(config.model.to_json(sort_keys=True),
                                                config.train.to_json(sort_keys=True), tuple(image_shape))
  enc_rng, dec_rng = jax.random.split(rng)
  x = jnp.zeros((1, *image_shape), jnp.float32)
  z = jnp.zeros((1, config.model.latent_dim), jnp.float32)
  return state_lib.AEState(encoder=state_lib.create(encoder, enc_rng, x, tx),
                           decoder=state_lib.create(decoder, dec_rng, z, tx))


def bound_train_step(config: ml_collections.ConfigDict):
  """The objective's train step with the config's static choices bound."""
  models.backbone_name(config.model)  # fails early on an unknown model name
  if config.model.name == "vae":
    return vae.train_step
  noise = config.model.noise if config.model.name == "denoising" else "none"
  if noise not in reconstruction.NOISES:
    raise UsageError(f"unknown model.noise {noise!r}; choose one of {', '.join(reconstruction.NOISES)}")
  if config.train.loss not in reconstruction.LOSSES:
    raise UsageError(f"unknown train.loss {config.train.loss!r}; choose one of {', '.join(reconstruction.LOSSES)}")
  return _reconstruction_step(config.train.loss, noise, config.model.noise_level)


@functools.lru_cache(maxsize=None)
def _reconstruction_step(loss: str, noise: str, noise_level: float):
  # The same object for the same choices, so the loop's cached runner (and its compile) is reused.
  return functools.partial(reconstruction.train_step, loss=loss, noise=noise, noise_level=noise_level)


def to_unit_float(images: np.ndarray, image_shape) -> np.ndarray:
  """Accepts uint8 or [0, 1] float images as (N, H, W, C), (N, H, W) or (N, H*W*C)."""
  x = np.asarray(images)
  x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
  try:
    return x.reshape((x.shape[0], *image_shape))
  except ValueError:
    raise UsageError(f"images of shape {np.shape(images)} do not fit the model's {tuple(image_shape)}") from None


@functools.partial(jax.jit, static_argnums=2)
def _encode(state, x_BxHxWxC, is_vae: bool):
  z = state.encoder.apply_fn({"params": state.encoder.params}, x_BxHxWxC)
  return jnp.split(z, 2, axis=-1)[0] if is_vae else z  # a VAE's code is its posterior mean


@jax.jit
def _decode(state, z_BxD):
  return jax.nn.sigmoid(state.decoder.apply_fn({"params": state.decoder.params}, z_BxD))


@dataclasses.dataclass
class Autoencoder:
  """A trained model of the family, usable on any array of images (see `to_unit_float`)."""
  config: ml_collections.ConfigDict
  state: state_lib.AEState
  image_shape: tuple

  @property
  def is_vae(self) -> bool:
    return self.config.model.name == "vae"

  def encode(self, images: np.ndarray) -> np.ndarray:
    """Latent codes (N, latent_dim); for the VAE, the posterior mean."""
    x = to_unit_float(images, self.image_shape)
    return map_in_chunks(lambda xb: _encode(self.state, xb, self.is_vae), x)

  def decode(self, z_NxD: np.ndarray) -> np.ndarray:
    """Images in [0, 1] (for the VAE, the Bernoulli means) from latent codes."""
    return map_in_chunks(lambda zb: _decode(self.state, zb), np.asarray(z_NxD, np.float32))

  def reconstruct(self, images: np.ndarray) -> np.ndarray:
    """D(E(x)) in [0, 1], shaped (N, H, W, C)."""
    return self.decode(self.encode(images))

  def sample(self, num: int, seed: int = 0) -> np.ndarray:
    """VAE samples: Bernoulli means of p(x|z) for z ~ N(0, I)."""
    if not self.is_vae:
      raise UsageError(f"model {self.config.model.name!r} has no prior to sample from; only vae does")
    z = jax.random.normal(jax.random.key(seed), (num, self.config.model.latent_dim))
    return self.decode(np.asarray(z))


@functools.partial(jax.jit, static_argnames="is_vae")
def _evaluate(state, eval_x, rng, is_vae: bool) -> dict:
  # Module level, so every run of a config reuses one compile (the one-class models train ten).
  if is_vae:
    x_bin = vae.binarize(eval_x, rng)
    value, _, _ = vae.elbo(state, x_bin, jax.random.fold_in(rng, 1))
    recon = jax.nn.sigmoid(vae.decode_logits(state, vae.posterior(state, x_bin)[0]))
    return {"elbo": jnp.mean(value), "mse": jnp.mean(jnp.square(recon - eval_x))}
  recon = reconstruction.reconstruct(state, eval_x)
  return {"mse": jnp.mean(jnp.square(recon - eval_x))}


def make_task(config: ml_collections.ConfigDict, image_shape, eval_x_NxHxWxC: np.ndarray) -> loop.Task:
  """The loop's view of this family: init, bound train step, and a cheap periodic eval."""
  eval_x = jnp.asarray(eval_x_NxHxWxC)
  is_vae = config.model.name == "vae"

  def evaluate(state, rng):
    return {k: float(v) for k, v in _evaluate(state, eval_x, rng, is_vae=is_vae).items()}

  return loop.Task(init=lambda rng: init_state(config, image_shape, rng),
                   train_step=bound_train_step(config), evaluate=evaluate)


def vae_test_scores(model: Autoencoder, x_test: np.ndarray, config: ml_collections.ConfigDict) -> dict:
  """Test ELBO and importance-weighted NLL (nats) on a test set binarized once with a fixed key."""
  ec = config.eval
  x_bin = np.asarray(vae.binarize(jnp.asarray(x_test), jax.random.key(ec.binarize_seed)))
  key = jax.random.key(ec.binarize_seed + 1)
  elbo_fn = jax.jit(lambda xb, k: vae.elbo(model.state, xb, k)[0])
  iw_fn = jax.jit(lambda xb, k: vae.iw_log_likelihood(model.state, xb, k, ec.iw_samples, ec.iw_chunk))
  elbos, lls = [], []
  for i in range(0, len(x_bin), ec.iw_batch):
    xb = jnp.asarray(x_bin[i:i + ec.iw_batch])
    elbos.append(np.asarray(elbo_fn(xb, jax.random.fold_in(key, 2 * i))))
    lls.append(np.asarray(iw_fn(xb, jax.random.fold_in(key, 2 * i + 1))))
  return {"test_elbo": float(np.mean(np.concatenate(elbos))),
          "test_nll_iw": float(-np.mean(np.concatenate(lls))), "iw_samples": ec.iw_samples}


def write_figures(workdir: str, model: Autoencoder, x_test: np.ndarray, labels: np.ndarray,
                  class_names) -> None:
  """Reconstructions, latent map, curves, and VAE samples as PNGs in `workdir`."""
  name = f"{model.config.model.name} on {model.config.data.name}"
  viz.save_reconstructions(os.path.join(workdir, "reconstructions.png"), x_test[:40],
                           model.reconstruct(x_test[:40]), f"{name}: test reconstructions")
  n = min(5000, len(x_test))
  viz.save_latent_scatter(os.path.join(workdir, "latent.png"), model.encode(x_test[:n]), labels[:n],
                          f"{name}: test latents (latent_dim={model.config.model.latent_dim})",
                          class_names)
  rows = read_metrics(workdir)
  viz.save_curves(os.path.join(workdir, "curves.png"), rows,
                  ["train/loss", "eval/mse", "eval/elbo"], name)
  if model.is_vae:
    viz.save_grid(os.path.join(workdir, "samples.png"), model.sample(100, model.config.seed),
                  f"{name}: samples (Bernoulli means)")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Trains the configured autoencoder in `workdir` (resuming if possible); returns the summary."""
  bound_train_step(config)  # validate names before touching data or the workdir
  train, test = data_lib.load_splits(config.data)
  image_shape = train["image"].shape[1:]
  x_test = test["image"].astype(np.float32) / 255.0
  task = make_task(config, image_shape, x_test[:config.eval.examples])
  result = loop.train(config, workdir, task, train)
  model = Autoencoder(config, result.state, tuple(image_shape))

  recon = model.reconstruct(x_test)
  test_mse = float(np.mean(np.square(recon - x_test)))
  pixels = int(np.prod(image_shape))
  x_train = train["image"].reshape((len(train["image"]), -1)).astype(np.float32) / 255.0
  pca_mse = pca_lib.reconstruction_mse(x_train, x_test.reshape((len(x_test), -1)), config.model.latent_dim)
  summary = {"dataset": config.data.name, "model": config.model.name,
             "latent_dim": config.model.latent_dim, "steps": result.steps,
             "train_seconds": round(result.train_seconds, 2), "test_mse": test_mse,
             "test_sse_per_image": test_mse * pixels, "pca_test_mse": pca_mse,
             "pca_test_sse_per_image": pca_mse * pixels}
  if model.is_vae:
    summary.update(vae_test_scores(model, x_test, config))
    samples = model.sample(config.eval.num_samples, config.seed)
    np.save(os.path.join(workdir, "samples.npy"), np.round(samples * 255).astype(np.uint8))
  write_figures(workdir, model, x_test, test["label"], data_lib.spec(config.data.name).class_names)
  write_json(os.path.join(workdir, SUMMARY_FILE), summary)
  return summary


def load(workdir: str) -> Autoencoder:
  """The model saved in `workdir` (its latest checkpoint), ready to encode and reconstruct."""
  return Autoencoder(*checkpoint.load_trained(workdir, init_state))
