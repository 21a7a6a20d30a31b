"""BYOL: an online network predicts a slowly moving target network's projection of another view.

Grill et al. 2020, "Bootstrap Your Own Latent", eq. 2 and 3 and Sec. 3.2: the online encoder,
projector and predictor learn by gradient; the target encoder and projector are an exponential
moving average of the online ones, with decay rising from `tau` to 1 on a cosine schedule; the
loss is 2 - 2 cos between the online prediction and the target projection, symmetrised over the
two views. No negative pairs: the predictor and the slow target keep it from collapsing.
Registered as the pretraining objective `byol`.
"""

import functools
from typing import Any, Mapping

import flax
import jax
import jax.numpy as jnp
import ml_collections

from jaxunsup import augment as augment_lib
from jaxunsup import models
from jaxunsup.configs import pretrain_finetune as pf_configs
from jaxunsup.data.specs import InputSpec
from jaxunsup.models.heads import BatchNormHead
from jaxunsup.objectives.contrastive import two_views
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train import state as state_lib
from jaxunsup.train.state import TrainState, global_norm


@flax.struct.dataclass
class BYOLState:
  """The online encoder, projector and predictor, each with its own optimizer state, and the
  target's encoder and projector params ({"encoder": ..., "projector": ...}, no optimizer)."""
  encoder: TrainState
  projector: TrainState
  predictor: TrainState
  target: Any


def regression_loss(p_BxD: jnp.ndarray, z_BxD: jnp.ndarray) -> jnp.ndarray:
  """2 - 2 cos(p, z) per pair, the squared distance of the unit vectors (eq. 2)."""
  p = p_BxD / jnp.maximum(jnp.linalg.norm(p_BxD, axis=-1, keepdims=True), 1e-12)
  z = z_BxD / jnp.maximum(jnp.linalg.norm(z_BxD, axis=-1, keepdims=True), 1e-12)
  return 2.0 - 2.0 * jnp.sum(p * z, axis=-1)


def target_decay(tau: float, step: jnp.ndarray, total_steps: int) -> jnp.ndarray:
  """tau_k = 1 - (1 - tau) (cos(pi k / K) + 1) / 2: tau at the first step, 1 at the last."""
  progress = jnp.minimum(step / max(total_steps, 1), 1.0)
  return 1.0 - (1.0 - tau) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0


def _losses(state: BYOLState, online: Mapping, views_2BxHxWxC: jnp.ndarray) -> tuple:
  """Symmetrised loss of the stacked views (first half pairs with second) and the online
  projections (for the collapse check)."""
  h = state.encoder.apply_fn({"params": online["encoder"]}, views_2BxHxWxC)
  z = state.projector.apply_fn({"params": online["projector"]}, h)
  p = state.predictor.apply_fn({"params": online["predictor"]}, z)
  t = state.encoder.apply_fn({"params": state.target["encoder"]}, views_2BxHxWxC)
  t = jax.lax.stop_gradient(state.projector.apply_fn({"params": state.target["projector"]}, t))
  t1, t2 = jnp.split(t, 2)
  # each view's prediction regresses the target projection of the other view
  loss = jnp.mean(regression_loss(p, jnp.concatenate([t2, t1])))
  return 2.0 * loss, z  # the sum of the two directions, as in the paper


def _spread(z_NxD: jnp.ndarray) -> jnp.ndarray:
  """Std over the batch of the unit projections, averaged over dimensions: about 1/sqrt(D) when
  the projections spread out, 0 when they collapse to one point."""
  unit = z_NxD / jnp.maximum(jnp.linalg.norm(z_NxD, axis=-1, keepdims=True), 1e-12)
  return jnp.mean(jnp.std(unit, axis=0))


def train_step(state: BYOLState, batch: dict, rng: jax.Array, *, tau: float, total_steps: int,
               aug: Mapping):
  """One optimizer step of the online networks, then the target's moving average."""
  views = two_views(batch["image"], rng, aug)
  online = {"encoder": state.encoder.params, "projector": state.projector.params,
            "predictor": state.predictor.params}
  (loss, z), grads = jax.value_and_grad(lambda o: _losses(state, o, views), has_aux=True)(online)
  encoder = state.encoder.apply_gradients(grads=grads["encoder"])
  projector = state.projector.apply_gradients(grads=grads["projector"])
  predictor = state.predictor.apply_gradients(grads=grads["predictor"])
  decay = target_decay(tau, state.encoder.step, total_steps)
  target = jax.tree.map(lambda t, o: decay * t + (1.0 - decay) * o, state.target,
                        {"encoder": encoder.params, "projector": projector.params})
  metrics = {"loss": loss, "spread": _spread(z), "target_decay": decay,
             "grad_norm": global_norm(list(grads.values())),
             "param_norm": global_norm([encoder.params, projector.params, predictor.params])}
  return BYOLState(encoder=encoder, projector=projector, predictor=predictor, target=target), metrics


def phase_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The BYOL pretraining run of an experiment config: its encoder, heads, views and budget."""
  c = ml_collections.ConfigDict({
      "model": config.model.to_dict(), "byol": config.byol.to_dict(),
      "augment": config.augment.to_dict(), "eval": {"examples": config.pretrain.eval_examples}})
  return pf_configs.phase_fields(config, "byol", c)


def _build(config: ml_collections.ConfigDict, spec: InputSpec) -> Parts:
  b = config.byol
  encoder = models.build_encoder(config.model, spec)
  projector = BatchNormHead(b.proj_hidden, b.proj_dim)
  predictor = BatchNormHead(b.pred_hidden, b.proj_dim)
  tx = state_lib.make_optimizer(config.train)
  aug = augment_lib.settings(config.augment, config.data.name)

  def init(rng):
    enc_rng, proj_rng, pred_rng = jax.random.split(rng, 3)
    enc = state_lib.create(encoder, enc_rng, jnp.zeros((2, *spec.shape)), tx)
    proj = state_lib.create(projector, proj_rng, jnp.zeros((2, config.model.rep_dim)), tx)
    pred = state_lib.create(predictor, pred_rng, jnp.zeros((2, b.proj_dim)), tx)
    # the target starts as a copy of the online networks (a copy: the loop donates the state)
    target = jax.tree.map(jnp.copy, {"encoder": enc.params, "projector": proj.params})
    return BYOLState(encoder=enc, projector=proj, predictor=pred, target=target)

  @jax.jit
  def evaluate(state, eval_x, rng):
    online = {"encoder": state.encoder.params, "projector": state.projector.params,
              "predictor": state.predictor.params}
    loss, z = _losses(state, online, two_views(eval_x, rng, aug))
    return {"byol_loss": loss, "spread": _spread(z)}

  @jax.jit
  def encode(state, x):
    return state.encoder.apply_fn({"params": state.encoder.params}, x)

  step = functools.partial(train_step, tau=b.tau, total_steps=config.train.steps, aug=aug)
  return Parts(init=init, train_step=step, examples_per_step=config.train.batch_size, evaluate=evaluate,
               encode=encode, encoder_params=lambda state: state.encoder.params, unit_features=True,
               modules={"encoder": encoder, "projector": projector, "predictor": predictor})


register(Objective("pretrain", "byol", _build, phase_config=phase_config))
