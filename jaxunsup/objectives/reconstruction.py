"""Autoencoder and denoising-autoencoder objective: reconstruct the clean image.

Registers the autoencoder family's `mlp`, `conv` and `denoising` (model.name of the autoencoder
configs), and the pretraining objectives `autoencoder` and `denoising` that train the sweep's
conv encoder this way. `autoencoder_parts` is shared with the VAE (objectives/vae.py).
"""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxunsup import models
from jaxunsup.chunked import map_in_chunks
from jaxunsup.configs import autoencoder as ae_configs
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train import state as state_lib
from jaxunsup.train.state import AEState, global_norm

LOSSES = ("mse", "bce")
NOISES = ("none", "mask", "gaussian")


def corrupt(x_BxHxWxC: jnp.ndarray, rng: jax.Array, noise: str, level: float) -> jnp.ndarray:
  """Denoising corruption (Vincent et al. 2008): zero a fraction `level` of pixels, or add N(0, level^2)."""
  if noise == "none":
    return x_BxHxWxC
  if noise == "mask":
    return x_BxHxWxC * jax.random.bernoulli(rng, 1.0 - level, x_BxHxWxC.shape)
  if noise == "gaussian":
    return x_BxHxWxC + level * jax.random.normal(rng, x_BxHxWxC.shape)
  raise UsageError(f"unknown model.noise {noise!r}; choose one of {', '.join(NOISES)}")


def reconstruction_loss(logits_BxHxWxC: jnp.ndarray, x_BxHxWxC: jnp.ndarray, loss: str) -> jnp.ndarray:
  """Mean per-pixel loss: squared error of sigmoid(logits), or Bernoulli cross-entropy."""
  if loss == "mse":
    return jnp.mean(jnp.square(jax.nn.sigmoid(logits_BxHxWxC) - x_BxHxWxC))
  if loss == "bce":
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits_BxHxWxC, x_BxHxWxC))
  raise UsageError(f"unknown train.loss {loss!r}; choose one of {', '.join(LOSSES)}")


def reconstruct(state: AEState, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
  """D(E(x)) as pixel intensities in [0, 1]."""
  z_BxD = state.encoder.apply_fn({"params": state.encoder.params}, x_BxHxWxC)
  return jax.nn.sigmoid(state.decoder.apply_fn({"params": state.decoder.params}, z_BxD))


def train_step(state: AEState, batch: dict, rng: jax.Array, *, loss: str = "mse",
               noise: str = "none", noise_level: float = 0.0):
  """One Adam step of encoder and decoder on the reconstruction loss of a (corrupted) batch."""
  x = batch["image"]
  x_in = corrupt(x, rng, noise, noise_level)

  def loss_fn(enc_params, dec_params):
    z_BxD = state.encoder.apply_fn({"params": enc_params}, x_in)
    logits = state.decoder.apply_fn({"params": dec_params}, z_BxD)
    mse = jnp.mean(jnp.square(jax.nn.sigmoid(logits) - x))
    return reconstruction_loss(logits, x, loss), mse

  (value, mse), (g_enc, g_dec) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      state.encoder.params, state.decoder.params)
  new_state = AEState(encoder=state.encoder.apply_gradients(grads=g_enc),
                      decoder=state.decoder.apply_gradients(grads=g_dec))
  metrics = {"loss": value, "mse": mse, "grad_norm": global_norm([g_enc, g_dec]),
             "param_norm": global_norm([new_state.encoder.params, new_state.decoder.params])}
  return new_state, metrics


def autoencoder_parts(config: ml_collections.ConfigDict, spec: InputSpec, train_step, evaluate,
                      code_of=lambda out: out, encoder_outputs: int = 1, **extra) -> Parts:
  """Parts of an encoder-decoder objective of the autoencoder configs: modules from `model`, one
  optimizer (from `train`) for both; `code_of` maps the encoder's output to the latent code."""
  encoder, decoder = models.build_autoencoder(config.model, spec.shape, encoder_outputs)
  tx = state_lib.make_optimizer(config.train)
  latent_dim = config.model.latent_dim

  def init(rng):
    enc_rng, dec_rng = jax.random.split(rng)
    x = jnp.zeros((1, *spec.shape), jnp.float32)
    z = jnp.zeros((1, latent_dim), jnp.float32)
    return AEState(encoder=state_lib.create(encoder, enc_rng, x, tx),
                   decoder=state_lib.create(decoder, dec_rng, z, tx))

  @jax.jit
  def encode(state, x_BxHxWxC):
    return code_of(state.encoder.apply_fn({"params": state.encoder.params}, x_BxHxWxC))

  @jax.jit
  def decode(state, z_BxD):
    return jax.nn.sigmoid(state.decoder.apply_fn({"params": state.decoder.params}, z_BxD))

  return Parts(init=init, train_step=train_step, examples_per_step=config.train.batch_size,
               evaluate=evaluate, encode=encode, encoder_params=lambda state: state.encoder.params,
               decode=decode, modules={"encoder": encoder, "decoder": decoder}, **extra)


@jax.jit
def _evaluate(state: AEState, eval_x_BxHxWxC: jnp.ndarray, rng: jax.Array) -> dict:
  del rng
  return {"mse": jnp.mean(jnp.square(reconstruct(state, eval_x_BxHxWxC) - eval_x_BxHxWxC))}


def check(config: ml_collections.ConfigDict) -> None:
  models.backbone_name(config.model)  # an unknown backbone or name
  noise = config.model.noise if config.model.name == "denoising" else "none"
  if noise not in NOISES:
    raise UsageError(f"unknown model.noise {noise!r}; choose one of {', '.join(NOISES)}")
  if config.train.loss not in LOSSES:
    raise UsageError(f"unknown train.loss {config.train.loss!r}; choose one of {', '.join(LOSSES)}")


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  noise = config.model.noise if config.model.name == "denoising" else "none"
  step = functools.partial(train_step, loss=config.train.loss, noise=noise,
                           noise_level=config.model.noise_level)
  parts = None

  def anomaly_score(state, x_NxHxWxC, rng, samples=1):
    del rng, samples
    return per_image_error(parts, state, x_NxHxWxC)

  parts = autoencoder_parts(config, spec, step, _evaluate, anomaly_score=anomaly_score)
  return parts


def per_image_error(parts: Parts, state, x_NxHxWxC: np.ndarray) -> np.ndarray:
  """Each image's reconstruction error through `parts` (mean squared, over pixels): the
  anomaly score of the reconstructing objectives."""
  recon = map_in_chunks(lambda xb: parts.decode(state, parts.encode(state, xb)), x_NxHxWxC)
  return np.mean(np.square(recon - x_NxHxWxC), axis=(1, 2, 3))


for _name in ("mlp", "conv", "denoising"):
  register(Objective("autoencoder", _name, _build, check))


def pretrain_phase(config: ml_collections.ConfigDict, objective: str) -> ml_collections.ConfigDict:
  """The autoencoder-config run that pretrains the sweep's conv encoder (`model` block: features,
  stage_convs, rep_dim, activation) as an autoencoder or, for `denoising`, a denoising one."""
  m, p = config.model, config.pretrain
  c = ae_configs.base()
  c.model.update(name="conv" if objective == "autoencoder" else "denoising", backbone="conv",
                 features=tuple(m.features), stage_convs=m.stage_convs, latent_dim=m.rep_dim,
                 activation=m.activation, noise=p.noise, noise_level=p.noise_level)
  c.eval.update(examples=p.eval_examples)
  return pf_configs.phase_fields(config, objective, c)


for _name in ("autoencoder", "denoising"):
  register(Objective("pretrain", _name, _build, check,
                     phase_config=functools.partial(pretrain_phase, objective=_name)))
