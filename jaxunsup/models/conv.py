"""Convolutional encoder and decoder: stride-2 stages down to a map of at most 8x8 (28x28 halves
twice to 7x7, 64x64 three times to 8x8; see `layers.stage_widths`)."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from jaxunsup.errors import UsageError
from jaxunsup.models.layers import SubPixelUpsample, activation_fn, stage_widths


class ConvEncoder(nn.Module):
  """Stages of 3x3 convolutions, each halving the image, then a Dense layer to `out_dim`.

  A stage is one stride-2 conv followed by `stage_convs - 1` stride-1 convs of the same width;
  inputs larger than 32 pixels get further stages of doubled width (`layers.stage_widths`).
  """
  features: Sequence[int]
  out_dim: int
  activation: str = "relu"
  stage_convs: int = 1

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    h = x_BxHxWxC
    for f in stage_widths(self.features, max(x_BxHxWxC.shape[1:3])):
      for i in range(self.stage_convs):
        stride = 2 if i == 0 else 1
        h = act(nn.Conv(f, (3, 3), strides=(stride, stride), padding="SAME")(h))
    h_BxF = h.reshape((h.shape[0], -1))
    return nn.Dense(self.out_dim)(h_BxF)


class ConvDecoder(nn.Module):
  """Dense to a small feature map, then sub-pixel upsampling back to per-pixel logits.

  `features` lists the channels from the smallest map upwards (the encoder's, reversed); each
  entry is one doubling, the last of which emits the image's channels directly, so no costly
  full-resolution conv is needed. Larger images get the encoder's extra stages, mirrored.
  """
  features: Sequence[int]
  image_shape: Sequence[int]
  activation: str = "relu"

  @nn.compact
  def __call__(self, z_BxD: jnp.ndarray) -> jnp.ndarray:
    act = activation_fn(self.activation)
    height, width, channels = self.image_shape
    features = stage_widths(self.features[::-1], max(height, width))[::-1]
    scale = 2 ** len(features)
    if height % scale or width % scale:
      raise UsageError(f"the conv decoder's {len(features)} doublings need an image side divisible by {scale}, "
                       f"not {height}x{width}; prepare the data with another --size")
    h = nn.Dense((height // scale) * (width // scale) * features[0])(z_BxD)
    h = act(h).reshape((z_BxD.shape[0], height // scale, width // scale, features[0]))
    for f in features[1:]:
      h = act(SubPixelUpsample(f)(h))
    return SubPixelUpsample(channels)(h)
