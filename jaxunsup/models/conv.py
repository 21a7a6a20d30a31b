"""Convolutional encoder and decoder for small images (28x28 halves twice to 7x7)."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxunsup.models.layers import SubPixelUpsample, activation_fn


class ConvEncoder(nn.Module):
  """Stages of 3x3 convolutions, each halving the image, then a Dense layer to `out_dim`.

  A stage is one stride-2 conv followed by `stage_convs - 1` stride-1 convs of the same width.
  """
  features: Sequence[int]
  out_dim: int
  activation: str = "relu"
  stage_convs: int = 1

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    h = x_BxHxWxC
    for f in self.features:
      for i in range(self.stage_convs):
        stride = 2 if i == 0 else 1
        h = act(nn.Conv(f, (3, 3), strides=(stride, stride), padding="SAME")(h))
    h_BxF = h.reshape((h.shape[0], -1))
    return nn.Dense(self.out_dim)(h_BxF)


class ConvDecoder(nn.Module):
  """Dense to a small feature map, then sub-pixel upsampling back to per-pixel logits.

  `features` lists the channels from the smallest map upwards (the encoder's, reversed); each
  entry is one doubling, the last of which emits the image's channels directly, so no costly
  full-resolution conv is needed.
  """
  features: Sequence[int]
  image_shape: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, z_BxD: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    height, width, channels = self.image_shape
    scale = 2 ** len(self.features)
    if height % scale or width % scale:
      raise ValueError(f"image {height}x{width} is not divisible by {scale}")
    h = nn.Dense((height // scale) * (width // scale) * self.features[0])(z_BxD)
    h = act(h).reshape((z_BxD.shape[0], height // scale, width // scale, self.features[0]))
    for f in self.features[1:]:
      h = act(SubPixelUpsample(f)(h))
    return SubPixelUpsample(channels)(h)
