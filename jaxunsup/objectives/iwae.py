"""Importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2016).

The VAE's model (Bernoulli decoder, Gaussian posterior, N(0, I) prior) trained on the k-sample
bound L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)], z_i ~ q(z|x), which tightens towards
log p(x) as k grows (their Theorem 1); k = `model.importance_samples`. With k = 1 the bound is
the VAE's ELBO, estimated with a sampled KL instead of the closed form. Evaluation, test NLL and
samples are the VAE's. Registered as the autoencoder family's `iwae`.
"""

import math

import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives import reconstruction, vae
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import AEState, global_norm


def iwae_bound(state: AEState, x_bin: jnp.ndarray, rng: jax.Array, k: int, enc_params=None,
               dec_params=None) -> jnp.ndarray:
  """Per-example L_k (Burda et al. 2016, eq. 8) from k reparameterised posterior samples."""
  mean_BxD, logvar_BxD = vae.posterior(state, x_bin, enc_params)
  eps_KxBxD = jax.random.normal(rng, (k, *mean_BxD.shape))
  weights_KxB = vae.log_weights(state, x_bin, mean_BxD, logvar_BxD, eps_KxBxD, dec_params)
  return jax.nn.logsumexp(weights_KxB, axis=0) - math.log(k)


def train_step(state: AEState, batch: dict, rng: jax.Array, k: int):
  """One step on -L_k of a freshly binarized batch; both networks follow the bound's gradient."""
  bin_rng, z_rng = jax.random.split(rng)
  x_bin = vae.binarize(batch["image"], bin_rng)

  def loss_fn(enc_params, dec_params):
    return -jnp.mean(iwae_bound(state, x_bin, z_rng, k, enc_params, dec_params))

  loss, (g_enc, g_dec) = jax.value_and_grad(loss_fn, argnums=(0, 1))(state.encoder.params,
                                                                      state.decoder.params)
  new_state = AEState(encoder=state.encoder.apply_gradients(grads=g_enc),
                      decoder=state.decoder.apply_gradients(grads=g_dec))
  metrics = {"loss": loss, "grad_norm": global_norm([g_enc, g_dec]),
             "param_norm": global_norm([new_state.encoder.params, new_state.decoder.params])}
  return new_state, metrics


def check(config: ml_collections.ConfigDict) -> None:
  reconstruction.check(config)
  k = config.model.importance_samples
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise UsageError(f"model.importance_samples must be a positive integer, got {k!r}")


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  k = config.model.importance_samples
  return vae.build_parts(config, spec, lambda state, batch, rng: train_step(state, batch, rng, k))


register(Objective("autoencoder", "iwae", _build, check))
