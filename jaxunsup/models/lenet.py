"""The bias-free LeNet-style encoder and decoder of Deep SVDD (Ruff et al. 2018) for 28x28 images.

No layer has a bias, and batch norm neither scales nor shifts: a network with a bias could map
every input to the centre by zeroing its weights, the trivial solution the paper rules out.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

SLOPE = 0.01  # leaky ReLU slope of the authors' code (the paper's text says 0.1)


def _norm(train: bool) -> nn.BatchNorm:
  # torch's BatchNorm2d(eps=1e-4, affine=False) with its default momentum 0.1 (flax counts 1 - that)
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-4, use_bias=False, use_scale=False)


def _up(h: jnp.ndarray) -> jnp.ndarray:
  """Nearest-neighbour upsampling by 2."""
  return jnp.repeat(jnp.repeat(h, 2, axis=1), 2, axis=2)


class LeNetEncoder(nn.Module):
  """Stages of (5x5 conv, batch norm, leaky ReLU, 2x2 max pool), then a linear map to `rep_dim`."""
  features: Sequence[int] = (8, 4)
  rep_dim: int = 32

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray, train: bool) -> jnp.ndarray:
    h = x_BxHxWxC
    for f in self.features:
      h = nn.Conv(f, (5, 5), padding="SAME", use_bias=False)(h)
      # nn.max_pool, not a reshape and max: that max's gradient finds the winner by comparing with
      # a recomputed forward, which XLA may round differently (NaN gradients at -O0)
      h = nn.max_pool(nn.leaky_relu(_norm(train)(h), SLOPE), (2, 2), strides=(2, 2))
    return nn.Dense(self.rep_dim, use_bias=False)(h.reshape((h.shape[0], -1)))


class LeNetDecoder(nn.Module):
  """The encoder mirrored for 28x28 images: the code as a 4x4 map with rep_dim / 16 channels,
  then (upsample, 5x5 conv, batch norm, leaky ReLU) stages 4 -> 8 -> 14 -> 28 (the middle conv is
  unpadded on one ring, as the authors' transposed conv with padding 3), sigmoid pixels."""
  features: Sequence[int] = (8, 4)  # the encoder's; used in reverse
  rep_dim: int = 32
  channels: int = 1

  @nn.compact
  def __call__(self, z_BxD: jnp.ndarray, train: bool) -> jnp.ndarray:
    h = nn.leaky_relu(z_BxD.reshape((z_BxD.shape[0], 4, 4, self.rep_dim // 16)), SLOPE)
    pads = ("SAME", ((1, 1), (1, 1)))
    for f, pad in zip(reversed(self.features), pads):
      h = nn.Conv(f, (5, 5), padding=pad, use_bias=False)(_up(h))
      h = nn.leaky_relu(_norm(train)(h), SLOPE)
    return jax.nn.sigmoid(nn.Conv(self.channels, (5, 5), padding="SAME", use_bias=False)(_up(h)))
