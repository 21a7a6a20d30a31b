"""Supervised fine-tuning objective: softmax cross-entropy of an encoder + head on labelled examples.

Registered as the classifier objectives `linear_probe` (the encoder frozen) and `finetune` (encoder
and head trained together, each at its own learning rate). Their config is a fine-tuning cell's:
`model` (the encoder), `finetune` (learning rates, schedule, augmentation switch), `train` (steps,
batch) and, for images, `finetune_augment`.
"""

import functools
from typing import Mapping, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from jaxunsup import augment as augment_lib
from jaxunsup import models
from jaxunsup.augment import augment
from jaxunsup.data.specs import InputSpec
from jaxunsup.models.heads import EncoderClassifier
from jaxunsup.objectives.registry import Objective, Parts, register
from jaxunsup.train.state import TrainState, global_norm, init_variables


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


def make_optimizer(ft_cfg: ml_collections.ConfigDict, frozen_encoder: bool,
                   steps: int) -> optax.GradientTransformation:
  """Adam per parameter group: the head at head_lr, the encoder at encoder_lr or not at all;
  `steps` is the length of the cosine schedule."""

  def adam(lr):
    if ft_cfg.schedule == "cosine":
      lr = optax.cosine_decay_schedule(lr, steps)
    return optax.adam(lr)

  groups = {"head": adam(ft_cfg.head_lr),
            "encoder": optax.set_to_zero() if frozen_encoder else adam(ft_cfg.encoder_lr)}
  return optax.multi_transform(groups, lambda params: {k: jax.tree.map(lambda _: k, v)
                                                       for k, v in params.items()})


def _build(config: ml_collections.ConfigDict, spec: InputSpec, frozen_encoder: bool) -> Parts:
  model = EncoderClassifier(models.build_encoder(config.model, spec), spec.num_classes)
  tx = make_optimizer(config.finetune, frozen_encoder, config.train.steps)
  # Augmentation is for images only; text configs have no `finetune_augment`.
  aug = (augment_lib.settings(config.finetune_augment, config.data.name)
         if spec.key == "image" and config.finetune.get("augment") else None)
  dtype = jnp.float32 if spec.key == "image" else jnp.int32

  def init(rng):
    params = init_variables(model, rng, jnp.zeros((1, *spec.shape), dtype))["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx)

  return Parts(init=init, examples_per_step=config.train.batch_size,
               train_step=functools.partial(train_step, aug=aug, frozen_encoder=frozen_encoder,
                                            input_key=spec.key),
               encoder_params=lambda state: state.params["encoder"],
               modules={"classifier": model, "encoder": model.encoder})


for _name in ("linear_probe", "finetune"):
  register(Objective("classifier", _name, functools.partial(_build, frozen_encoder=_name == "linear_probe")))
