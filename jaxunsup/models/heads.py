"""Heads on top of an encoder: SimCLR's projection MLP and a classifier for fine-tuning."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class ProjectionHead(nn.Module):
  """Dense-ReLU-Dense map from representations to the space the contrastive loss sees
  (Chen et al. 2020: the loss is computed after it, the representation is taken before)."""
  hidden: int
  out_dim: int

  @nn.compact
  def __call__(self, h_BxF: jnp.ndarray) -> jnp.ndarray:
    return nn.Dense(self.out_dim)(nn.relu(nn.Dense(self.hidden)(h_BxF)))


class EncoderClassifier(nn.Module):
  """An encoder and a linear head; params are {"encoder": ..., "head": ...}, so pretrained
  encoder params drop in and optax.multi_transform can treat the two groups apart."""
  encoder: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, x_BxHxWxC: jnp.ndarray) -> jnp.ndarray:
    return nn.Dense(self.num_classes, name="head")(self.encoder(x_BxHxWxC))


class BatchNormHead(nn.Module):
  """Dense, batch normalisation, ReLU, Dense: BYOL's projector and predictor (Grill et al. 2020,
  Sec. 3.3, with smaller widths). Only training uses these heads, so the normalisation always
  takes the batch's own statistics and keeps no running averages (no mutable state)."""
  hidden: int
  out_dim: int

  @nn.compact
  def __call__(self, h_BxF: jnp.ndarray) -> jnp.ndarray:
    h = nn.Dense(self.hidden)(h_BxF)
    scale = self.param("scale", nn.initializers.ones, (self.hidden,))
    bias = self.param("bias", nn.initializers.zeros, (self.hidden,))
    h = (h - jnp.mean(h, 0)) * jax.lax.rsqrt(jnp.var(h, 0) + 1e-5) * scale + bias
    return nn.Dense(self.out_dim)(nn.relu(h))
