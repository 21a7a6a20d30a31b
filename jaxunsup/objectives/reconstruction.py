"""Autoencoder and denoising-autoencoder objective: reconstruct the clean image."""

import jax
import jax.numpy as jnp
import optax

from jaxunsup.errors import UsageError
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
