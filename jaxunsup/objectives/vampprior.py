"""VampPrior (Tomczak & Welling 2018): a VAE whose prior is the encoder's own posterior, averaged
over K learnt pseudo-inputs: p(z) = (1/K) sum_k q(z | u_k).

The pseudo-inputs u_k are images (K = `model.pseudo_inputs`, 500 in the paper on MNIST), kept in
[0, 1] by a hard clip as the paper's hardtanh does, started near 0.05 as in its code, and trained
by their own optimizer state beside the encoder's and the decoder's. The KL term has no closed
form, so training uses the single-sample estimate log q(z|x) - log p(z). Test NLL (importance
sampled), ELBO, samples (z ~ q(z|u_k), k uniform) and anomaly scores use the learnt prior.
Registered as the autoencoder family's `vampprior`.
"""

import dataclasses
import math

import flax
import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup.data.specs import InputSpec
from jaxunsup.errors import UsageError
from jaxunsup.objectives import reconstruction, vae
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train import state as state_lib
from jaxunsup.train.state import TrainState, global_norm

INIT_MEAN, INIT_STD = 0.05, 0.01  # the pseudo-inputs' start (the paper's code for MNIST)


@flax.struct.dataclass
class VampState:
  """The VAE's encoder and decoder, and the pseudo-inputs, each with its own optimizer state."""
  encoder: TrainState
  decoder: TrainState
  prior: TrainState


def pseudo_inputs(state: VampState, prior_params=None) -> jnp.ndarray:
  """The K pseudo-inputs as images in [0, 1]."""
  params = state.prior.params if prior_params is None else prior_params
  return jnp.clip(params["pseudo_inputs"], 0.0, 1.0)


def log_density(state: VampState, z_xD: jnp.ndarray, enc_params=None, prior_params=None) -> jnp.ndarray:
  """log p(z) = logsumexp_k log q(z|u_k) - log K, over the last axis of z."""
  mean_KxD, logvar_KxD = vae.posterior(state, pseudo_inputs(state, prior_params), enc_params)
  per_k = jnp.sum(vae.normal_log_density(z_xD[..., None, :], mean_KxD, logvar_KxD), axis=-1)
  return jax.nn.logsumexp(per_k, axis=-1) - math.log(mean_KxD.shape[0])


def draw(state: VampState, rng: jax.Array, num: int) -> jnp.ndarray:
  """num codes from the prior: a pseudo-input uniformly, then its posterior."""
  mean_KxD, logvar_KxD = vae.posterior(state, pseudo_inputs(state))
  k_key, z_key = jax.random.split(rng)
  k_N = jax.random.randint(k_key, (num,), 0, mean_KxD.shape[0])
  return mean_KxD[k_N] + jnp.exp(0.5 * logvar_KxD[k_N]) * jax.random.normal(z_key, (num, mean_KxD.shape[1]))


PRIOR = vae.Prior(log_density=log_density, draw=jax.jit(draw, static_argnums=2))


def train_step(state: VampState, batch: dict, rng: jax.Array):
  """One step on the negative single-sample ELBO under the VampPrior, for all three parameter sets."""
  bin_rng, z_rng = jax.random.split(rng)
  x_bin = vae.binarize(batch["image"], bin_rng)

  def loss_fn(enc_params, dec_params, prior_params):
    mean, logvar = vae.posterior(state, x_bin, enc_params)
    eps = jax.random.normal(z_rng, (1, *mean.shape))
    weights = vae.log_weights(state, x_bin, mean, logvar, eps, dec_params,
                              log_prior=lambda z: log_density(state, z, enc_params, prior_params))
    return -jnp.mean(weights[0])

  loss, (g_enc, g_dec, g_prior) = jax.value_and_grad(loss_fn, argnums=(0, 1, 2))(
      state.encoder.params, state.decoder.params, state.prior.params)
  new_state = VampState(encoder=state.encoder.apply_gradients(grads=g_enc),
                        decoder=state.decoder.apply_gradients(grads=g_dec),
                        prior=state.prior.apply_gradients(grads=g_prior))
  return new_state, {"loss": loss, "grad_norm": global_norm([g_enc, g_dec, g_prior]),
                     "param_norm": global_norm([new_state.encoder.params, new_state.decoder.params])}


def check(config: ml_collections.ConfigDict) -> None:
  reconstruction.check(config)
  k = config.model.pseudo_inputs
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise UsageError(f"model.pseudo_inputs must be a positive integer, got {k!r}")


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  parts = vae.build_parts(config, spec, train_step, prior=PRIOR)
  tx = state_lib.make_optimizer(config.train)
  shape = (config.model.pseudo_inputs, *spec.shape)

  def init(rng):
    ae_key, u_key = jax.random.split(rng)
    ae = parts.init(ae_key)
    u = INIT_MEAN + INIT_STD * jax.random.normal(u_key, shape)
    prior = TrainState.create(apply_fn=None, params={"pseudo_inputs": u}, tx=tx)
    return VampState(encoder=ae.encoder, decoder=ae.decoder, prior=prior)

  return dataclasses.replace(parts, init=init)


register(Objective("autoencoder", "vampprior", _build, check))
