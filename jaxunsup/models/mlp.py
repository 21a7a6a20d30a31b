"""Fully connected encoder and decoder."""

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxunsup.models.layers import activation_fn


class MLPEncoder(nn.Module):
  """Flattens an image batch and maps it through Dense layers to `out_dim` features."""
  hidden: Sequence[int]
  out_dim: int
  activation: str = "relu"

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    h_BxF = x_BxHxWxC.reshape((x_BxHxWxC.shape[0], -1))
    for width in self.hidden:
      h_BxF = act(nn.Dense(width)(h_BxF))
    return nn.Dense(self.out_dim)(h_BxF)


class MLPDecoder(nn.Module):
  """Maps latents through Dense layers to per-pixel logits of an image batch."""
  hidden: Sequence[int]
  image_shape: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, z_BxD: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    h_BxF = z_BxD
    for width in self.hidden:
      h_BxF = act(nn.Dense(width)(h_BxF))
    logits_BxP = nn.Dense(math.prod(self.image_shape))(h_BxF)
    return logits_BxP.reshape((z_BxD.shape[0], *self.image_shape))
