"""Generators and discriminators: MLP and DCGAN-style, optionally class-conditional.

Generators map z (and a label) to images in [-1, 1] (tanh); discriminators map images in [-1, 1]
(and a label) to one real-valued score per image (a logit, or a critic value for WGAN-GP).
Conditioning: the generator always gets the one-hot label concatenated to z; the discriminator
either concatenates it to its input (`concat`) or adds the inner product of a learnt class
embedding with its last features (`projection`, Miyato & Koyama 2018). InfoGAN's discriminator
(`code`, set by objectives/infogan.py, not a config choice) is not told the label but predicts
it: called with codes, it returns (B, 2), the score and log Q(code | image) from a head on its
last features (Chen et al. 2016); called without, the score and zeros. With continuous codes its
labels are (B, 1 + M) floats, the category then M codes, which the generator takes as they are.

Discriminators take `spectral_norm=True` (Miyato et al. 2018): every weight matrix (a conv kernel
flattened to (k*k*C_in, C_out)) is divided by its largest singular value, estimated by power
iteration from vectors kept in the `batch_stats` collection. Calls with `update_stats=True`
store the iterated vectors; the train step does that once per discriminator update.

Every network takes `init_scheme`, the initialisers of its Dense and conv layers (`layers.layer_init`):
Flax's `lecun` or PyTorch's defaults, `torch`.
"""

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxunsup.models.layers import PatchConv, SubPixelUpsample, layer_init, stage_widths

CONDITIONINGS = ("projection", "concat")
UPSAMPLINGS = ("subpixel", "transposed")
CONV_IMPLS = ("xla", "patches")


def _split_codes(labels: jnp.ndarray) -> tuple:
  """Class labels (B,) as they are; InfoGAN's (B, 1 + M) float codes as (category (B,) int,
  continuous codes (B, M))."""
  if labels.ndim == 1:
    return labels, None
  return labels[:, 0].astype(jnp.int32), labels[:, 1:]


def _with_label(z_BxD: jnp.ndarray, labels_B: Optional[jnp.ndarray], num_classes: int) -> jnp.ndarray:
  if not num_classes:
    return z_BxD
  category_B, continuous_BxM = _split_codes(labels_B)
  parts = [z_BxD, jax.nn.one_hot(category_B, num_classes, dtype=z_BxD.dtype)]
  return jnp.concatenate(parts + ([] if continuous_BxM is None else [continuous_BxM.astype(z_BxD.dtype)]), -1)


def _normalised(layer: nn.Module, spectral_norm: bool, update_stats: bool):
  """`layer` as a function of its input, spectrally normalised when asked."""
  if not spectral_norm:
    return layer
  return lambda h: nn.SpectralNorm(layer)(h, update_stats=update_stats)


class _Projection(nn.Module):
  """Unconditional score, plus <embed(y), h> when conditional with projection; with `code`, the
  score beside log Q(y | h)."""
  num_classes: int
  conditioning: str
  spectral_norm: bool = False
  init_scheme: str = "lecun"

  @nn.compact
  def __call__(self, h_BxF: jnp.ndarray, labels_B: Optional[jnp.ndarray], update_stats: bool = False) -> jnp.ndarray:
    dense = nn.Dense(1, **layer_init(self.init_scheme, h_BxF.shape[-1]))
    out_B = _normalised(dense, self.spectral_norm, update_stats)(h_BxF)[:, 0]
    if self.num_classes and self.conditioning == "projection":
      embed_BxF = nn.Embed(self.num_classes, h_BxF.shape[-1])(labels_B)
      out_B = out_B + jnp.sum(embed_BxF * h_BxF, axis=-1)
    if self.num_classes and self.conditioning == "code":
      # InfoGAN's Q on the same features; real images come without codes, and get zeros
      if labels_B is None:
        return jnp.stack([out_B, jnp.zeros_like(out_B)], -1)
      category_B, continuous_BxM = _split_codes(labels_B)
      extra = 0 if continuous_BxM is None else continuous_BxM.shape[-1]
      width = 128
      q_BxH = nn.leaky_relu(nn.Dense(width, **layer_init(self.init_scheme, h_BxF.shape[-1]))(h_BxF), 0.2)
      q_out = nn.Dense(self.num_classes + extra, **layer_init(self.init_scheme, width))(q_BxH)
      log_q_BxK = jax.nn.log_softmax(q_out[:, :self.num_classes])
      log_q_B = jnp.take_along_axis(log_q_BxK, category_B[:, None], axis=1)[:, 0]
      if extra:
        # continuous codes: a unit-variance Gaussian around Q's means (the paper's fixed-variance
        # factored Gaussian), up to its constant
        log_q_B = log_q_B - 0.5 * jnp.sum((continuous_BxM - q_out[:, self.num_classes:]) ** 2, -1)
      return jnp.stack([out_B, log_q_B], -1)
    return out_B


class MLPGenerator(nn.Module):
  """z -> Dense layers with leaky ReLU -> tanh image."""
  hidden: Sequence[int]
  image_shape: Sequence[int]
  num_classes: int = 0
  init_scheme: str = "lecun"

  @nn.compact
  def __call__(self, z_BxD, labels_B=None, train: bool = True):
    h = _with_label(z_BxD, labels_B, self.num_classes)
    for width in self.hidden:
      h = nn.leaky_relu(nn.Dense(width, **layer_init(self.init_scheme, h.shape[-1]))(h), 0.2)
    size = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
    h = nn.Dense(size, **layer_init(self.init_scheme, h.shape[-1]))(h)
    return jnp.tanh(h).reshape((z_BxD.shape[0], *self.image_shape))


class MLPDiscriminator(nn.Module):
  """Flattened image -> Dense layers with leaky ReLU -> one score."""
  hidden: Sequence[int]
  num_classes: int = 0
  conditioning: str = "projection"
  spectral_norm: bool = False
  init_scheme: str = "lecun"

  @nn.compact
  def __call__(self, x_BxHxWxC, labels_B=None, update_stats: bool = False):
    h = x_BxHxWxC.reshape((x_BxHxWxC.shape[0], -1))
    if self.conditioning == "concat":
      h = _with_label(h, labels_B, self.num_classes)
    for width in self.hidden:
      dense = nn.Dense(width, **layer_init(self.init_scheme, h.shape[-1]))
      h = nn.leaky_relu(_normalised(dense, self.spectral_norm, update_stats)(h), 0.2)
    project = _Projection(self.num_classes, self.conditioning, self.spectral_norm, self.init_scheme)
    return project(h, labels_B, update_stats)


class DCGenerator(nn.Module):
  """z -> Dense to a (H/4 x W/4) map -> two sub-pixel doublings -> tanh image (Radford et al. 2016);
  images larger than 32 pixels start from a smaller map with more doublings (`stage_widths`).

  Batch norm after the Dense layer and the first doubling, as in DCGAN. Sub-pixel upsampling
  (conv to 4C channels, then depth-to-space) stands in for stride-2 transposed convs: the same
  family of functions, and much faster to train on XLA's CPU backend (see models/layers.py).
  """
  features: Sequence[int]          # channels at H/4, then at H/2 (at 28 and 32 pixels)
  image_shape: Sequence[int]
  num_classes: int = 0
  kernel_size: int = 3
  batch_norm: bool = True
  upsampling: str = "subpixel"     # or "transposed": the textbook ConvTranspose, slow on CPU
  init_scheme: str = "lecun"

  @nn.compact
  def __call__(self, z_BxD, labels_B=None, train: bool = True):
    height, width, channels = self.image_shape
    norm = (lambda h: nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)) \
        if self.batch_norm else (lambda h: h)
    if self.upsampling == "subpixel":
      up = lambda f: SubPixelUpsample(f, self.kernel_size, self.init_scheme)
    else:
      # PyTorch's ConvTranspose2d counts its fan-in over output channels: kept, so `torch` is torch's
      up = lambda f: nn.ConvTranspose(f, (4, 4), strides=(2, 2), padding="SAME", **layer_init(self.init_scheme, 16 * f))
    features = generator_widths(self.features, self.image_shape)
    scale = 2 ** len(features)
    h = _with_label(z_BxD, labels_B, self.num_classes)
    h = nn.Dense((height // scale) * (width // scale) * features[0], **layer_init(self.init_scheme, h.shape[-1]))(h)
    h = nn.relu(norm(h)).reshape((z_BxD.shape[0], height // scale, width // scale, features[0]))
    for f in features[1:]:
      h = nn.relu(norm(up(f)(h)))
    return jnp.tanh(up(channels)(h))


def generator_widths(features: Sequence[int], image_shape: Sequence[int]) -> tuple:
  """The generator's channels from its first map upwards, one doubling each: `features` at 28 and
  32 pixels, with doubled-width stages in front for larger images (the discriminator's, mirrored)."""
  return stage_widths(tuple(features)[::-1], max(image_shape[:2]))[::-1]


class DCDiscriminator(nn.Module):
  """Stride-2 convs with leaky ReLU (two at 28 and 32 pixels, more for larger images, see
  `stage_widths`), then one score; no batch norm, so WGAN-GP can use it."""
  features: Sequence[int]
  num_classes: int = 0
  conditioning: str = "projection"
  kernel_size: int = 4
  conv_impl: str = "xla"           # or "patches": same function, faster under a gradient penalty on CPU
  spectral_norm: bool = False
  init_scheme: str = "lecun"

  @nn.compact
  def __call__(self, x_BxHxWxC, labels_B=None, update_stats: bool = False):
    h = x_BxHxWxC
    if self.num_classes and self.conditioning == "concat":
      b, height, width, _ = h.shape
      onehot = jax.nn.one_hot(labels_B, self.num_classes, dtype=h.dtype)
      h = jnp.concatenate([h, jnp.broadcast_to(onehot[:, None, None, :], (b, height, width, self.num_classes))], -1)
    k = self.kernel_size
    for i, f in enumerate(stage_widths(self.features, max(h.shape[1:3]))):
      # one name for both implementations, so their parameters are interchangeable
      inits = layer_init(self.init_scheme, k * k * h.shape[-1])
      conv = PatchConv(f, k, 2, self.init_scheme, name=f"Conv_{i}") if self.conv_impl == "patches" else \
          nn.Conv(f, (k, k), strides=(2, 2), padding="SAME", name=f"Conv_{i}", **inits)
      h = nn.leaky_relu(_normalised(conv, self.spectral_norm, update_stats)(h), 0.2)
    return _Projection(self.num_classes, self.conditioning, self.spectral_norm, self.init_scheme)(
        h.reshape((h.shape[0], -1)), labels_B, update_stats)
