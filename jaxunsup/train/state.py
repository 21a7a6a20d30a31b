"""Train-state pytrees: one optax state per network, grouped per objective."""

import functools
from typing import Any, Sequence

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state

TrainState = train_state.TrainState


@flax.struct.dataclass
class AEState:
  """An encoder and a decoder, each with its own params and optimizer state."""
  encoder: TrainState
  decoder: TrainState


@flax.struct.dataclass
class ContrastiveState:
  """SimCLR's encoder and projection head, each with its own params and optimizer state."""
  encoder: TrainState
  projector: TrainState


class StatsState(TrainState):
  """A TrainState with state outside the gradient: a generator's batch-norm running averages, a
  discriminator's spectral-norm vectors ({} if none)."""
  batch_stats: Any = None


@flax.struct.dataclass
class GANState:
  """Generator and discriminator with separate optimizer states, and an EMA of the generator.

  ema = {"params": ..., "batch_stats": ...}; with model.ema_decay = 0 it equals the generator.
  disc is a StatsState when spectrally normalised, else a TrainState.
  """
  gen: StatsState
  disc: Any
  ema: Any


def make_optimizer(train_cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam (or AdamW) with optional cosine decay and gradient clipping, from `train`."""
  lr = train_cfg.learning_rate
  if train_cfg.get("schedule", "constant") == "cosine":
    lr = optax.cosine_decay_schedule(lr, train_cfg.steps, alpha=train_cfg.get("final_lr_fraction", 0.0))
  opt = optax.adamw(lr, weight_decay=train_cfg.weight_decay) if train_cfg.get("weight_decay", 0.0) \
      else optax.adam(lr)
  if train_cfg.get("grad_clip", 0.0):
    opt = optax.chain(optax.clip_by_global_norm(train_cfg.grad_clip), opt)
  return opt


@functools.partial(jax.jit, static_argnums=0, static_argnames="train")
def init_variables(module, rng: jax.Array, *inputs, **kwargs) -> dict:
  """`module.init(rng, *inputs, **kwargs)` as one compiled program, with the same values. Op by op,
  every initialiser compiles on its own: about a second per network in a fresh process on XLA's
  CPU backend, against a few tenths. Modules of equal fields hash alike, so they share it."""
  return module.init(rng, *inputs, **kwargs)


def create(module, rng: jax.Array, example_in: jnp.ndarray, tx: optax.GradientTransformation) -> TrainState:
  """Initialises `module` on an example input and wraps it with its own optimizer state."""
  params = init_variables(module, rng, example_in)["params"]
  return TrainState.create(apply_fn=module.apply, params=params, tx=tx)


def global_norm(trees: Sequence[Any]) -> jnp.ndarray:
  """L2 norm over every leaf of several pytrees (for gradient and parameter norms)."""
  return optax.tree.norm(list(trees))
