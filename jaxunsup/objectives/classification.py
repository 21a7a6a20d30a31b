"""Supervised fine-tuning objective: softmax cross-entropy of an encoder + head on labelled examples."""

from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import optax

from jaxunsup.augment import augment
from jaxunsup.train.state import TrainState, global_norm


def cross_entropy(logits_BxK: jnp.ndarray, labels_B: jnp.ndarray) -> tuple:
  """(mean softmax cross-entropy, accuracy) of integer labels."""
  loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_BxK, labels_B))
  return loss, jnp.mean(jnp.argmax(logits_BxK, axis=-1) == labels_B)


def train_step(state: TrainState, batch: dict, rng: jax.Array, *, aug: Optional[Mapping] = None,
               frozen_encoder: bool = False, input_key: str = "image"):
  """One step on a labelled batch of `batch[input_key]` (images augmented when `aug` is given).

  With `frozen_encoder` (linear probe) no gradient flows into the encoder, which saves its
  backward pass; the state's optimizer (optax.multi_transform) also gives it zero updates.
  """
  x = batch[input_key] if aug is None else augment(batch[input_key], rng, **aug)

  def loss_fn(params):
    if frozen_encoder:
      params = {**params, "encoder": jax.lax.stop_gradient(params["encoder"])}
    return cross_entropy(state.apply_fn({"params": params}, x), batch["label"])

  (loss, accuracy), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  new_state = state.apply_gradients(grads=grads)
  return new_state, {"loss": loss, "accuracy": accuracy, "grad_norm": global_norm([grads])}
