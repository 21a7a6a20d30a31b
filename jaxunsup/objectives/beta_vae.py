"""beta-VAE (Higgins et al. 2017) and beta-TC-VAE (Chen et al. 2018): VAEs that trade
reconstruction for a factorised code.

beta-VAE weights the ELBO's KL term by beta = `model.beta` (> 1 pushes towards independent,
axis-aligned latents). beta-TC-VAE splits the KL term, averaged over the data, into the index-code
mutual information, the total correlation of q(z) and the dimension-wise KL (Chen et al. 2018,
eq. 2), and weights only the total correlation by beta. q(z) and its marginals are estimated with
minibatch weighted sampling (their section 4.1): log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N M)
for a batch of M drawn from N training images. With beta = 1 both are the VAE.

The model, test NLL, samples and evaluation are the VAE's (objectives/vae.py). Registered as the
autoencoder family's `beta_vae` and `beta_tcvae`.
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


def tc_decomposition(z_BxD, mean_BxD, logvar_BxD, dataset_size: int) -> dict:
  """Per-example terms of the KL decomposition (Chen et al. 2018, eq. 2) on one sample per image:
  mi = log q(z|x) - log q(z), tc = log q(z) - sum_d log q(z_d), dwkl = sum_d log q(z_d) - log p(z),
  with q(z) and q(z_d) by minibatch weighted sampling over the batch."""
  batch = z_BxD.shape[0]
  # log q(z_i,d | x_j) for every pair: (B_i, B_j, D)
  pairs_BxBxD = vae.normal_log_density(z_BxD[:, None, :], mean_BxD[None], logvar_BxD[None])
  log_norm = math.log(dataset_size * batch)
  log_qz_B = jax.nn.logsumexp(pairs_BxBxD.sum(-1), axis=1) - log_norm
  log_prod_qzd_B = jnp.sum(jax.nn.logsumexp(pairs_BxBxD, axis=1) - log_norm, axis=-1)
  log_qzx_B = vae.normal_log_density(z_BxD, mean_BxD, logvar_BxD).sum(-1)
  log_pz_B = vae.normal_log_density(z_BxD, 0.0, 0.0).sum(-1)
  return {"mi": log_qzx_B - log_qz_B, "tc": log_qz_B - log_prod_qzd_B, "dwkl": log_prod_qzd_B - log_pz_B}


def _sample(state: AEState, x_bin, rng, enc_params, dec_params):
  mean, logvar = vae.posterior(state, x_bin, enc_params)
  z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape)
  return z, mean, logvar, vae.bernoulli_log_likelihood(vae.decode_logits(state, z, dec_params), x_bin)


def beta_vae_loss(state: AEState, x_bin, rng, beta: float, enc_params=None, dec_params=None) -> tuple:
  """-E[log p(x|z)] + beta KL(q(z|x) || p(z)) (batch mean), and its two terms."""
  _, mean, logvar, log_px = _sample(state, x_bin, rng, enc_params, dec_params)
  kl = vae.gaussian_kl(mean, logvar)
  return jnp.mean(beta * kl - log_px), {"log_px": jnp.mean(log_px), "kl": jnp.mean(kl)}


def beta_tcvae_loss(state: AEState, x_bin, rng, beta: float, dataset_size: int, enc_params=None,
                    dec_params=None) -> tuple:
  """-E[log p(x|z)] + mi + beta tc + dwkl (batch means), and the terms."""
  z, mean, logvar, log_px = _sample(state, x_bin, rng, enc_params, dec_params)
  terms = {k: jnp.mean(v) for k, v in tc_decomposition(z, mean, logvar, dataset_size).items()}
  loss = terms["mi"] + beta * terms["tc"] + terms["dwkl"] - jnp.mean(log_px)
  return loss, {"log_px": jnp.mean(log_px), "kl": jnp.mean(vae.gaussian_kl(mean, logvar)), **terms}


def train_step(state: AEState, batch: dict, rng: jax.Array, loss_fn):
  """One step on `loss_fn(state, x_bin, rng, enc_params, dec_params)` of a freshly binarized batch."""
  bin_rng, z_rng = jax.random.split(rng)
  x_bin = vae.binarize(batch["image"], bin_rng)
  (loss, aux), (g_enc, g_dec) = jax.value_and_grad(
      lambda e, d: loss_fn(state, x_bin, z_rng, enc_params=e, dec_params=d), argnums=(0, 1),
      has_aux=True)(state.encoder.params, state.decoder.params)
  new_state = AEState(encoder=state.encoder.apply_gradients(grads=g_enc),
                      decoder=state.decoder.apply_gradients(grads=g_dec))
  return new_state, {"loss": loss, **aux, "grad_norm": global_norm([g_enc, g_dec]),
                     "param_norm": global_norm([new_state.encoder.params, new_state.decoder.params])}


def check(config: ml_collections.ConfigDict) -> None:
  reconstruction.check(config)
  beta = config.model.beta
  if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 < beta < math.inf:
    raise UsageError(f"model.beta must be a positive number, got {beta!r}")


def _build_beta_vae(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  beta = float(config.model.beta)
  loss_fn = lambda state, x, rng, **params: beta_vae_loss(state, x, rng, beta, **params)
  return vae.build_parts(config, spec, lambda state, batch, rng: train_step(state, batch, rng, loss_fn))


def _build_beta_tcvae(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  beta, n = float(config.model.beta), spec.train_examples
  loss_fn = lambda state, x, rng, **params: beta_tcvae_loss(state, x, rng, beta, n, **params)
  return vae.build_parts(config, spec, lambda state, batch, rng: train_step(state, batch, rng, loss_fn))


register(Objective("autoencoder", "beta_vae", _build_beta_vae, check))
register(Objective("autoencoder", "beta_tcvae", _build_beta_tcvae, check))
