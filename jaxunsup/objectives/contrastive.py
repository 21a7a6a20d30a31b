"""SimCLR's contrastive objective: NT-Xent over two augmented views of each image.

Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations", eq. 1.
Registered as the pretraining objective `simclr`.
"""

import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxunsup import augment as augment_lib
from jaxunsup import models
from jaxunsup.augment import augment
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.data.specs import InputSpec
from jaxunsup.models.heads import ProjectionHead
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train import state as state_lib
from jaxunsup.train.state import ContrastiveState, global_norm


def nt_xent(z1_BxD: jnp.ndarray, z2_BxD: jnp.ndarray, temperature: float) -> tuple:
  """Mean NT-Xent loss of 2B views where z1[i] and z2[i] are the positive pair.

  Each view is classified among the other 2B - 1 by cosine similarity / temperature. Returns
  (loss, top-1 accuracy of finding the positive).
  """
  b = z1_BxD.shape[0]
  z = jnp.concatenate([z1_BxD, z2_BxD])
  z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
  logits_NxN = (z @ z.T) / temperature
  logits_NxN = jnp.where(jnp.eye(2 * b, dtype=bool), -jnp.inf, logits_NxN)  # a view is not its own pair
  positive_N = jnp.concatenate([jnp.arange(b, 2 * b), jnp.arange(b)])
  loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_NxN, positive_N))
  accuracy = jnp.mean(jnp.argmax(logits_NxN, axis=-1) == positive_N)
  return loss, accuracy


def two_views(x_BxHxWxC: jnp.ndarray, rng: jax.Array, aug: Mapping) -> jnp.ndarray:
  """Two independent random views of each image, stacked: (2B, H, W, C)."""
  k1, k2 = jax.random.split(rng)
  return jnp.concatenate([augment(x_BxHxWxC, k1, **aug), augment(x_BxHxWxC, k2, **aug)])


def loss_on_views(state: ContrastiveState, enc_params, proj_params, views_2BxHxWxC: jnp.ndarray,
                  temperature: float) -> tuple:
  """NT-Xent of the projected representations of stacked views (first half pairs with second)."""
  h = state.encoder.apply_fn({"params": enc_params}, views_2BxHxWxC)
  z = state.projector.apply_fn({"params": proj_params}, h)
  z1, z2 = jnp.split(z, 2)
  return nt_xent(z1, z2, temperature)


def train_step(state: ContrastiveState, batch: dict, rng: jax.Array, *, temperature: float,
               aug: Mapping):
  """One optimizer step of encoder and projection head on the NT-Xent loss of a batch's views."""
  views = two_views(batch["image"], rng, aug)

  def loss_fn(enc_params, proj_params):
    return loss_on_views(state, enc_params, proj_params, views, temperature)

  (loss, accuracy), (g_enc, g_proj) = jax.value_and_grad(loss_fn, argnums=(0, 1), has_aux=True)(
      state.encoder.params, state.projector.params)
  new_state = ContrastiveState(encoder=state.encoder.apply_gradients(grads=g_enc),
                               projector=state.projector.apply_gradients(grads=g_proj))
  metrics = {"loss": loss, "pair_accuracy": accuracy, "grad_norm": global_norm([g_enc, g_proj]),
             "param_norm": global_norm([new_state.encoder.params, new_state.projector.params])}
  return new_state, metrics


def phase_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The SimCLR pretraining run of an experiment config: its encoder, head, views and budget."""
  p = config.pretrain
  c = ml_collections.ConfigDict({
      "model": config.model.to_dict(),
      "simclr": {"temperature": p.temperature, "proj_hidden": p.proj_hidden, "proj_dim": p.proj_dim},
      "augment": config.augment.to_dict(), "eval": {"examples": p.eval_examples}})
  return pf_configs.phase_fields(config, "simclr", c)


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  encoder = models.build_encoder(config.model, spec)
  projector = ProjectionHead(config.simclr.proj_hidden, config.simclr.proj_dim)
  tx = state_lib.make_optimizer(config.train)
  aug = augment_lib.settings(config.augment, config.data.name)
  temperature = config.simclr.temperature

  def init(rng):
    enc_rng, proj_rng = jax.random.split(rng)
    return ContrastiveState(
        encoder=state_lib.create(encoder, enc_rng, jnp.zeros((1, *spec.shape)), tx),
        projector=state_lib.create(projector, proj_rng, jnp.zeros((1, config.model.rep_dim)), tx))

  @jax.jit
  def evaluate(state, eval_x, rng):
    loss, accuracy = loss_on_views(state, state.encoder.params, state.projector.params,
                                   two_views(eval_x, rng, aug), temperature)
    return {"nt_xent": loss, "pair_accuracy": accuracy}

  @jax.jit
  def encode(state, x):
    return state.encoder.apply_fn({"params": state.encoder.params}, x)

  return Parts(init=init, train_step=functools.partial(train_step, temperature=temperature, aug=aug),
               examples_per_step=config.train.batch_size, evaluate=evaluate, encode=encode,
               encoder_params=lambda state: state.encoder.params, unit_features=True,
               modules={"encoder": encoder, "projector": projector})


register(Objective("pretrain", "simclr", _build, phase_config=phase_config))
