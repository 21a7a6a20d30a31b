"""Variational autoencoder with a Bernoulli decoder (Kingma & Welling 2014) and IWAE evaluation.

The prior is N(0, I) unless a `Prior` is given (objectives/vampprior.py learns one); the test
NLL, ELBO, samples and anomaly scores then use it. Registered as the autoencoder family's `vae`.
"""

import dataclasses
import functools
import math
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxunsup.chunked import map_in_chunks
from jaxunsup.data.specs import InputSpec
from jaxunsup.objectives import reconstruction
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import AEState, global_norm

LOG_2PI = math.log(2.0 * math.pi)


def posterior(state: AEState, x_BxHxWxC: jnp.ndarray, enc_params=None):
  """Mean and log-variance of q(z|x)."""
  params = state.encoder.params if enc_params is None else enc_params
  stats_Bx2D = state.encoder.apply_fn({"params": params}, x_BxHxWxC)
  mean_BxD, logvar_BxD = jnp.split(stats_Bx2D, 2, axis=-1)
  return mean_BxD, logvar_BxD


def decode_logits(state: AEState, z_BxD: jnp.ndarray, dec_params=None) -> jnp.ndarray:
  """Per-pixel Bernoulli logits of p(x|z)."""
  params = state.decoder.params if dec_params is None else dec_params
  return state.decoder.apply_fn({"params": params}, z_BxD)


def bernoulli_log_likelihood(logits_BxHxWxC: jnp.ndarray, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
  """log p(x|z) per example, summed over pixels."""
  ll = -optax.sigmoid_binary_cross_entropy(logits_BxHxWxC, x_BxHxWxC)
  return ll.reshape((ll.shape[0], -1)).sum(-1)


def normal_log_density(z, mean, logvar) -> jnp.ndarray:
  """log N(z; mean, exp(logvar)) of each coordinate (broadcasting)."""
  return -0.5 * (LOG_2PI + logvar + jnp.square(z - mean) * jnp.exp(-logvar))


def gaussian_kl(mean_BxD: jnp.ndarray, logvar_BxD: jnp.ndarray) -> jnp.ndarray:
  """KL(N(mean, exp(logvar)) || N(0, I)) per example, in closed form."""
  return 0.5 * jnp.sum(jnp.exp(logvar_BxD) + jnp.square(mean_BxD) - 1.0 - logvar_BxD, axis=-1)


def binarize(x_BxHxWxC: jnp.ndarray, rng: jax.Array) -> jnp.ndarray:
  """Dynamic binarization: each pixel is a Bernoulli draw with its intensity as probability."""
  return jax.random.bernoulli(rng, x_BxHxWxC).astype(jnp.float32)


def elbo(state: AEState, x_bin: jnp.ndarray, rng: jax.Array, enc_params=None, dec_params=None):
  """Per-example ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)), one reparameterised sample."""
  mean, logvar = posterior(state, x_bin, enc_params)
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape)
  log_px = bernoulli_log_likelihood(decode_logits(state, z, dec_params), x_bin)
  kl = gaussian_kl(mean, logvar)
  return log_px - kl, log_px, kl


def train_step(state: AEState, batch: dict, rng: jax.Array):
  """One step on the negative ELBO of a freshly binarized batch."""
  bin_rng, z_rng = jax.random.split(rng)
  x_bin = binarize(batch["image"], bin_rng)

  def loss_fn(enc_params, dec_params):
    value, log_px, kl = elbo(state, x_bin, z_rng, enc_params, dec_params)
    return -jnp.mean(value), (jnp.mean(log_px), jnp.mean(kl))

  (loss, (log_px, kl)), (g_enc, g_dec) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      state.encoder.params, state.decoder.params)
  new_state = AEState(encoder=state.encoder.apply_gradients(grads=g_enc),
                      decoder=state.decoder.apply_gradients(grads=g_dec))
  metrics = {"loss": loss, "log_px": log_px, "kl": kl, "grad_norm": global_norm([g_enc, g_dec]),
             "param_norm": global_norm([new_state.encoder.params, new_state.decoder.params])}
  return new_state, metrics


@dataclasses.dataclass(frozen=True)
class Prior:
  """A learnt p(z): log_density(state, z (..., D), enc_params=None, prior_params=None) -> (...),
  differentiable in the params given; draw(state, rng, num) -> (num, D)."""
  log_density: Callable
  draw: Callable


def log_weights(state: AEState, x_bin: jnp.ndarray, mean_BxD: jnp.ndarray, logvar_BxD: jnp.ndarray,
                eps_KxBxD: jnp.ndarray, dec_params=None, log_prior: Optional[Callable] = None) -> jnp.ndarray:
  """K x B importance log-weights log p(x|z_k) + log p(z_k) - log q(z_k|x), z_k = mean + std * eps_k;
  log_prior(z) gives log p(z) (N(0, I) when None)."""
  z_KxBxD = mean_BxD + jnp.exp(0.5 * logvar_BxD) * eps_KxBxD
  logits = jax.vmap(lambda zk: decode_logits(state, zk, dec_params))(z_KxBxD)
  log_px = jax.vmap(lambda lk: bernoulli_log_likelihood(lk, x_bin))(logits)
  if log_prior is None:
    log_pz = -0.5 * jnp.sum(jnp.square(z_KxBxD) + LOG_2PI, axis=-1)
  else:
    log_pz = log_prior(z_KxBxD)
  log_qz = -0.5 * jnp.sum(jnp.square(eps_KxBxD) + LOG_2PI + logvar_BxD, axis=-1)
  return log_px + log_pz - log_qz


def _log_prior(state, prior: Optional[Prior]) -> Optional[Callable]:
  return None if prior is None else (lambda z: prior.log_density(state, z))


def sampled_elbo(state: AEState, x_bin: jnp.ndarray, rng: jax.Array, prior: Optional[Prior] = None):
  """Per-example ELBO from one posterior sample with the KL sampled too, for priors without a
  closed-form KL."""
  mean, logvar = posterior(state, x_bin)
  eps = jax.random.normal(rng, (1, *mean.shape))
  return log_weights(state, x_bin, mean, logvar, eps, log_prior=_log_prior(state, prior))[0]


def iw_log_likelihood(state: AEState, x_bin: jnp.ndarray, rng: jax.Array, num_samples: int,
                      chunk: int = 250, prior: Optional[Prior] = None) -> jnp.ndarray:
  """Importance-weighted estimate of log p(x) per example (Burda et al. 2016, eq. 8).

  log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k ~ q(z|x).
  Samples are drawn `chunk` at a time and combined with a running logsumexp to bound memory.
  """
  mean, logvar = posterior(state, x_bin)
  chunk = min(chunk, num_samples)
  if num_samples % chunk:
    raise ValueError(f"iw_samples {num_samples} must be a multiple of the chunk {chunk}")

  def body(acc_B, key):
    weights_KxB = log_weights(state, x_bin, mean, logvar, jax.random.normal(key, (chunk, *mean.shape)),
                              log_prior=_log_prior(state, prior))
    return jnp.logaddexp(acc_B, jax.nn.logsumexp(weights_KxB, axis=0)), None

  keys = jax.random.split(rng, num_samples // chunk)
  total_B, _ = jax.lax.scan(body, jnp.full(mean.shape[:1], -jnp.inf), keys)
  return total_B - math.log(num_samples)


@functools.partial(jax.jit, static_argnums=3)
def _evaluate(state: AEState, eval_x: jnp.ndarray, rng: jax.Array, prior: Optional[Prior] = None) -> dict:
  x_bin = binarize(eval_x, rng)
  key = jax.random.fold_in(rng, 1)
  value = elbo(state, x_bin, key)[0] if prior is None else sampled_elbo(state, x_bin, key, prior)
  recon = jax.nn.sigmoid(decode_logits(state, posterior(state, x_bin)[0]))
  return {"elbo": jnp.mean(value), "mse": jnp.mean(jnp.square(recon - eval_x))}


def test_scores(state: AEState, x_test: np.ndarray, ec: ml_collections.ConfigDict,
                prior: Optional[Prior] = None) -> dict:
  """Test ELBO and importance-weighted NLL (nats) on a test set binarized once with a fixed key
  (eval block: binarize_seed, iw_samples, iw_chunk, iw_batch). With a learnt prior the ELBO's KL
  is sampled."""
  x_bin = np.asarray(binarize(jnp.asarray(x_test), jax.random.key(ec.binarize_seed)))
  key = jax.random.key(ec.binarize_seed + 1)
  if prior is None:
    elbo_fn = jax.jit(lambda xb, k: elbo(state, xb, k)[0])
  else:
    elbo_fn = jax.jit(lambda xb, k: sampled_elbo(state, xb, k, prior))
  iw_fn = jax.jit(lambda xb, k: iw_log_likelihood(state, xb, k, ec.iw_samples, ec.iw_chunk, prior))
  elbos, lls = [], []
  for i in range(0, len(x_bin), ec.iw_batch):
    xb = jnp.asarray(x_bin[i:i + ec.iw_batch])
    elbos.append(np.asarray(elbo_fn(xb, jax.random.fold_in(key, 2 * i))))
    lls.append(np.asarray(iw_fn(xb, jax.random.fold_in(key, 2 * i + 1))))
  return {"test_elbo": float(np.mean(np.concatenate(elbos))),
          "test_nll_iw": float(-np.mean(np.concatenate(lls))), "iw_samples": ec.iw_samples}


@jax.jit
def latent_kl(state: AEState, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
  """KL(q(z_d|x) || N(0, 1)) of each latent dimension d of each image: (B, D)."""
  mean, logvar = posterior(state, x_BxHxWxC)
  return 0.5 * (jnp.exp(logvar) + jnp.square(mean) - 1.0 - logvar)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _neg_elbo(state, x_BxHxWxC, rng, samples: int, prior: Optional[Prior]):
  if prior is None:
    one = lambda key: elbo(state, x_BxHxWxC, key)[0]
  else:
    one = lambda key: sampled_elbo(state, x_BxHxWxC, key, prior)
  return -jnp.mean(jax.vmap(one)(jax.random.split(rng, samples)), axis=0)


def anomaly_score(state: AEState, x_NxHxWxC: np.ndarray, rng: jax.Array, samples: int = 1,
                  prior: Optional[Prior] = None) -> np.ndarray:
  """-ELBO per image (mean over `samples` draws), 1000 images at a time."""
  return np.concatenate([np.asarray(_neg_elbo(state, jnp.asarray(x_NxHxWxC[i:i + 1000]),
                                              jax.random.fold_in(rng, i), samples, prior))
                         for i in range(0, len(x_NxHxWxC), 1000)])


def build_parts(config: ml_collections.ConfigDict, spec: InputSpec, step=train_step,
                prior: Optional[Prior] = None) -> Parts:
  """The VAE's parts (networks, evaluation, NLL, sampler) around train step `step`: the IWAE
  trains the same model on another bound, the VampPrior with another prior."""
  latent_dim = config.model.latent_dim
  parts = None

  def sample(state, rng, num: int):
    """Bernoulli means of p(x|z) for z drawn from the prior."""
    z = jax.random.normal(rng, (num, latent_dim)) if prior is None else prior.draw(state, rng, num)
    return map_in_chunks(lambda zb: parts.decode(state, zb), np.asarray(z))

  parts = reconstruction.autoencoder_parts(
      config, spec, step, functools.partial(_evaluate, prior=prior), code_of=lambda out: jnp.split(out, 2, axis=-1)[0],
      encoder_outputs=2, sample=sample, latent_kl=latent_kl, posterior=jax.jit(posterior),
      anomaly_score=lambda state, x, rng, samples=1: anomaly_score(state, x, rng, samples, prior),
      test_scores=lambda state, x_test: test_scores(state, x_test, config.eval, prior))
  return parts


register(Objective("autoencoder", "vae", build_parts, reconstruction.check))
